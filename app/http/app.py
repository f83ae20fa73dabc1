"""The FastAPI application: its factory, and the OpenAPI document it serves."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from ..export.collector import ExportConfig, PageStateExporter
from ..pagemap.cgroups import namespace
from ..pagemap.policy import process_rule
from ..pagemap.probe import KernelCapabilities, probe
from ..service.audit import AuditLog
from ..service.pool import ScanPool
from ..service.processes import Processes
from ..service.scans import ScanLimits, Scans
from ..service.shutdown import Shutdown
from ..service.summaries import Summaries
from ..service.watches import Watches
from ..settings import Settings
from . import auth, exception_handlers, openapi
from .deps import Services
from .metrics import Metrics
from .observe import ObserveRequests
from .routes import protected, public

__all__ = ["VERSION", "create_app", "openapi_document"]

VERSION = "0.1.0"
log = logging.getLogger("pmscan")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        auth.warn_if_off(settings)
        kernel = app.state.kernel = probe()
        _check_categories(settings, kernel)
        _describe_cgroup_namespace()
        pool = app.state.pool = ScanPool(
            settings.workers,
            retry_after=settings.retry_after_seconds,
            queue_limit=settings.queue_limit,
            queue_seconds=settings.queue_seconds,
        )
        metrics: Metrics = app.state.metrics
        metrics.describe(VERSION, kernel, pool)
        exporter = _exporter(settings, metrics, pool, kernel)
        app.state.services = _services(settings, kernel, pool, metrics, app.state.shutdown, exporter)
        app.state.audit.open()
        try:
            yield
        finally:
            pool.shutdown()
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
        # scripts from a CDN); /openapi.json is a protected route (app.http.routes.service).
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # FastAPI's native OpenTelemetry: pmscan's observability is its Prometheus metrics and
        # audit log, and asking on every request whether a tracer is configured has a cost.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    auth.install(app, settings)
    exception_handlers.install(app)
    _install_limits_and_observation(app, settings)
    # The routes themselves, flat: their routers gave each its checks (app.http.routes.routers).
    app.router.routes.extend(route for router in (public, *protected) for route in router.routes)
    openapi.install(app)  # GET /openapi.json serves the completed document
    return app


def openapi_document() -> dict[str, Any]:
    """The document the app serves, built without a server (auth off changes nothing in it):
    what ``pmscan-server openapi`` prints and ``make openapi`` stores as ``openapi.json``."""
    document: dict[str, Any] = create_app(Settings(auth="off")).openapi()
    return document


def _check_categories(settings: Settings, kernel: KernelCapabilities) -> None:
    """Exported categories this kernel cannot report stop the server at start-up."""
    missing = settings.categories & ~kernel.categories
    if missing:
        names = ", ".join((c.name or "").lower() for c in missing)
        raise RuntimeError(f"PMSCAN_EXPORT_CATEGORIES: this kernel cannot report {names}")


def _describe_cgroup_namespace() -> None:
    """In a private cgroup namespace (a container): say where its root is on the host, and which
    hierarchies' paths stay relative (no mount visible here shows their host tree)."""
    roots = namespace().describe()
    if not roots:
        return  # the host's namespace: paths are the host's
    placed = {name or "cgroup2": root for name, root in roots.items() if root is not None}
    log.info("private cgroup namespace, rooted on the host at %s", placed)
    lost = sorted(name or "cgroup2" for name, root in roots.items() if root is None)
    if lost:
        log.warning(
            "private cgroup namespace: no mount visible here shows the host's tree of %s; its paths "
            "stay relative, a host cgroup matches none of them",
            ", ".join(lost),
        )


def _services(  # noqa: PLR0917 (what the lifespan made, in order)
    settings: Settings,
    kernel: KernelCapabilities,
    pool: ScanPool,
    metrics: Metrics,
    shutdown: Shutdown,
    exporter: PageStateExporter,
) -> Services:
    """The bundle the routes work with: the service calls, built on what the lifespan made."""
    limits = ScanLimits(
        chunk_records=settings.chunk_records,
        timeout_seconds=settings.scan_timeout_seconds,
        json_max_regions=settings.json_max_regions,
    )
    page_size = kernel.page_size
    return Services(
        settings,
        kernel,
        pool,
        metrics,
        shutdown,
        exporter,
        scans=Scans(pool, shutdown, limits),
        summaries=Summaries(pool, limits, page_size=page_size),
        watches=Watches(pool, shutdown, limits, page_size=page_size, observe=metrics.observe_access),
        processes=Processes(pool),
    )


def _exporter(
    settings: Settings, metrics: Metrics, pool: ScanPool, kernel: KernelCapabilities
) -> PageStateExporter:
    """The page-state collector, registered once in the app's registry."""
    config = ExportConfig(
        groups=settings.groups,
        categories=settings.categories,
        containers=settings.export_containers,
        containers_max=settings.export_containers_max,
        max_age_seconds=settings.export_max_age_seconds,
        budget_seconds=settings.export_budget_seconds,
        concurrency=settings.export_concurrency,
        span_bytes=settings.export_span_bytes,
        deny_pids=frozenset(settings.deny_pids),
    )
    # The exporter scans as an administrator would: any process but pmscan and the deny list.
    rule = process_rule(deny=settings.deny_pids)
    exporter = PageStateExporter(config, pool=pool, page_size=kernel.page_size, authorize=rule)
    metrics.registry.register(exporter)
    return exporter


def _install_limits_and_observation(app: FastAPI, settings: Settings) -> None:
    """Metrics, audit log, shutdown state, and the one ASGI middleware: observation, outside
    the routes and the exception handlers, so it sees every final status. No middleware
    answers a request: every answer, refusals included, comes from a route."""
    app.state.metrics = Metrics()
    app.state.audit = AuditLog(settings.audit_log)
    app.state.shutdown = Shutdown()
    app.add_middleware(ObserveRequests, metrics=app.state.metrics, audit=app.state.audit)
