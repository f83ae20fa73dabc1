"""Dependencies of the routes, as readable ``Annotated`` aliases.

The services a route works with come as one bundle, built at start-up: FastAPI resolves
every dependency node on every request, and a node per service cost more than the scan of
a small process. All dependencies are ``async``: a plain ``def`` one runs in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from ..pagemap.probe import KernelCapabilities
from ..settings import Settings
from .metrics import Metrics
from .pool import ScanPool
from .shutdown import Shutdown

if TYPE_CHECKING:  # the exporter names auth's refusals, and auth reads the services
    from ..export.collector import PageStateExporter

__all__ = ["Services", "ServicesDep"]


@dataclass(frozen=True)
class Services:
    """What the routes work with: the settings, the probed kernel, the scan pool, the
    metrics, the shutdown state and the page-state exporter of this app."""

    settings: Settings
    kernel: KernelCapabilities
    pool: ScanPool
    metrics: Metrics
    shutdown: Shutdown
    exporter: PageStateExporter


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
