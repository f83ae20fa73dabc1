"""Dependencies of the routes, as readable ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..pagemap.probe import KernelCapabilities
from ..settings import Settings
from .pool import ScanPool

__all__ = ["KernelDep", "PoolDep", "SettingsDep"]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_pool(request: Request) -> ScanPool:
    pool: ScanPool = request.app.state.pool
    return pool


def get_kernel(request: Request) -> KernelCapabilities:
    kernel: KernelCapabilities = request.app.state.kernel
    return kernel


SettingsDep = Annotated[Settings, Depends(get_settings)]
PoolDep = Annotated[ScanPool, Depends(get_pool)]
KernelDep = Annotated[KernelCapabilities, Depends(get_kernel)]
