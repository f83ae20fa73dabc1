"""The service itself: capabilities, liveness, readiness."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from ...pagemap.categories import category_names
from ...pagemap.session import BACKENDS
from ...security.principals import Unauthenticated
from ..deps import ServicesDep
from ..exception_handlers import responses
from ..metrics import CONTENT_TYPE
from ..schemas import Capabilities
from .routers import protected_router, public_router

router = protected_router(tags=["service"])
public = public_router(tags=["service"])


@router.get(
    "/capabilities",
    operation_id="get_capabilities",
    response_model=Capabilities,
    responses=responses(Unauthenticated),
)
async def capabilities(services: ServicesDep) -> Capabilities:
    kernel, settings, pool = services.kernel, services.settings, services.pool
    return Capabilities(
        kernel_release=kernel.kernel_release,
        page_size=kernel.page_size,
        pagemap_scan=kernel.pagemap_scan,
        categories=category_names(kernel.category_mask),  # type: ignore[arg-type]
        soft_dirty=kernel.soft_dirty,
        user_address_limit=kernel.user_address_limit,
        backends=sorted(BACKENDS),
        default_backend="ioctl" if kernel.pagemap_scan else "pagemap",
        limits={
            "workers": pool.size,
            "queue_limit": pool.queue_limit,
            "queue_seconds": pool.queue_seconds,
            "chunk_records": settings.chunk_records,
            "json_max_regions": settings.json_max_regions,
            "max_body_bytes": settings.max_body_bytes,
            "scan_timeout_seconds": settings.scan_timeout_seconds,
        },
    )


@router.get(
    "/metrics",
    operation_id="get_metrics",
    response_class=Response,
    responses={
        200: {"description": "Prometheus text format", "content": {"text/plain": {}}},
        **responses(Unauthenticated),
    },
)
async def metrics(services: ServicesDep) -> Response:
    """Prometheus metrics (``pmscan_*``); needs a token like every route but /healthz and /readyz."""
    # The page states of the configured groups and containers (app.export.collector), made current.
    await services.exporter.refresh()
    return Response(services.metrics.render(), headers={"Content-Type": CONTENT_TYPE})


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request) -> dict[str, Any]:
    """The OpenAPI document; protected like every route but /healthz and /readyz."""
    document: dict[str, Any] = request.app.openapi()
    return document


#: The public routes: no authentication (``security: []``, said explicitly), and no error of their
#: own, but the router's 404 or 405 for what it cannot serve, in FastAPI's ``{"detail": "…"}``.
PUBLIC: dict[str, Any] = {
    "openapi_extra": {"security": []},
    "responses": {
        "4XX": {
            "description": "the router cannot serve the request as sent (405 for another method)",
            "content": {"application/json": {"schema": {"type": "object", "properties": {"detail": {}}}}},
        }
    },
}


@public.get("/healthz", operation_id="healthz", response_model=dict[str, str], **PUBLIC)
async def healthz() -> dict[str, str]:
    """Liveness: the event loop answers. No authentication."""
    return {"status": "ok"}


@public.get("/readyz", operation_id="readyz", response_model=dict[str, str], **PUBLIC)
async def readyz(services: ServicesDep) -> dict[str, str]:
    """Readiness: the kernel probe ran and the scan pool is up. No authentication."""
    return {"status": "ready", "default_backend": "ioctl" if services.kernel.pagemap_scan else "pagemap"}
