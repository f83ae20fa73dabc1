"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .api import exception_handlers
from .api.pool import ScanPool
from .api.routes import protected, public
from .pagemap.probe import probe
from .settings import Settings

__all__ = ["create_app"]

VERSION = "0.1.0"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.kernel = probe()
        app.state.pool = ScanPool(settings.workers, retry_after=settings.retry_after_seconds)
        try:
            yield
        finally:
            app.state.pool.shutdown()

    app = FastAPI(
        title="pmscan",
        version=VERSION,
        summary="The page states of any process on this node, from ioctl(PAGEMAP_SCAN), over HTTP.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    exception_handlers.install(app)
    app.include_router(public)
    app.include_router(protected)
    return app
