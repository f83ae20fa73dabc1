"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from . import openapi
from .api import auth, exception_handlers
from .api.audit import AuditLog
from .api.deps import Services
from .api.metrics import Metrics
from .api.observe import ObserveRequests
from .api.pool import ScanPool
from .api.query import single_valued_query
from .api.routes import protected, public
from .api.shutdown import Shutdown
from .export.collector import PageStateExporter
from .pagemap.policy import process_rule
from .pagemap.probe import KernelCapabilities, probe
from .settings import Settings

__all__ = ["create_app"]

VERSION = "0.1.0"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        auth.warn_if_off(settings)
        app.state.kernel = probe()
        _check_categories(settings, app.state.kernel)
        app.state.pool = ScanPool(
            settings.workers,
            retry_after=settings.retry_after_seconds,
            queue_limit=settings.queue_limit,
            queue_seconds=settings.queue_seconds,
        )
        app.state.metrics.describe(VERSION, app.state.kernel, app.state.pool)
        exporter = _exporter(app, settings)
        app.state.services = Services(
            settings, app.state.kernel, app.state.pool, app.state.metrics, app.state.shutdown, exporter
        )
        app.state.audit.open()
        try:
            yield
        finally:
            app.state.pool.shutdown()
            exporter.close()
            app.state.audit.close()

    app = FastAPI(
        title="pmscan",
        version=VERSION,
        summary="The page states of any process on this node, from ioctl(PAGEMAP_SCAN), over HTTP.",
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
        # The default listen address; a node agent is reached at its node's own address.
        servers=[{"url": "http://127.0.0.1:6716", "description": "pmscan on this node, its default address"}],
        lifespan=lifespan,
        # No /docs or /redoc (a browser cannot send a bearer token to load them, and they pull
        # scripts from a CDN); /openapi.json is a protected route (app.api.routes.service).
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # FastAPI's native OpenTelemetry: pmscan's observability is its Prometheus metrics and
        # audit log, and asking on every request whether a tracer is configured costs ~20 us.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        dependencies=[Depends(single_valued_query)],
    )
    app.state.settings = settings
    auth.install(app, settings)
    exception_handlers.install(app)
    _install_limits_and_observation(app, settings)
    app.include_router(public)
    app.include_router(protected)
    openapi.install(app)  # GET /openapi.json serves the completed document
    return app


def _check_categories(settings: Settings, kernel: KernelCapabilities) -> None:
    """Exported categories this kernel cannot report stop the server at start-up."""
    missing = settings.categories & ~kernel.categories
    if missing:
        names = ", ".join((c.name or "").lower() for c in missing)
        raise RuntimeError(f"PMSCAN_EXPORT_CATEGORIES: this kernel cannot report {names}")


def _exporter(app: FastAPI, settings: Settings) -> PageStateExporter:
    """The page-state collector, registered once in the app's registry."""
    kernel = app.state.kernel
    # The exporter scans as an administrator would: any process but pmscan and the deny list.
    rule = process_rule(deny=settings.deny_pids)
    exporter = PageStateExporter(settings, pool=app.state.pool, page_size=kernel.page_size, authorize=rule)
    app.state.metrics.registry.register(exporter)
    return exporter


def _install_limits_and_observation(app: FastAPI, settings: Settings) -> None:
    """Metrics, audit log, shutdown state, and the one ASGI middleware: observation, outside
    the routes and the exception handlers, so it sees every final status. No middleware
    answers a request: every answer, refusals included, comes from a route."""
    app.state.metrics = Metrics()
    app.state.audit = AuditLog(settings.audit_log)
    app.state.shutdown = Shutdown()
    app.add_middleware(ObserveRequests, metrics=app.state.metrics, audit=app.state.audit)
