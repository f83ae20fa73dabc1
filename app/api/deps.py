"""Dependencies of the routes, as readable ``Annotated`` aliases.

All ``async``: FastAPI runs a plain ``def`` dependency in a thread, a hop that cost more
than the scan of a small process.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..pagemap.probe import KernelCapabilities
from ..settings import Settings
from .metrics import Metrics
from .pool import ScanPool
from .shutdown import Shutdown

__all__ = ["KernelDep", "MetricsDep", "PoolDep", "SettingsDep", "ShutdownDep"]


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_pool(request: Request) -> ScanPool:
    pool: ScanPool = request.app.state.pool
    return pool


async def get_kernel(request: Request) -> KernelCapabilities:
    kernel: KernelCapabilities = request.app.state.kernel
    return kernel


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def get_shutdown(request: Request) -> Shutdown:
    shutdown: Shutdown = request.app.state.shutdown
    return shutdown


SettingsDep = Annotated[Settings, Depends(get_settings)]
PoolDep = Annotated[ScanPool, Depends(get_pool)]
KernelDep = Annotated[KernelCapabilities, Depends(get_kernel)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
ShutdownDep = Annotated[Shutdown, Depends(get_shutdown)]
