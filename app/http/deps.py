"""Dependencies of the routes, as readable ``Annotated`` aliases.

The services a route works with come as one bundle, built at start-up: FastAPI resolves
every dependency node on every request, and a node per service cost more than the scan of
a small process. All dependencies are ``async``: a plain ``def`` one runs in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ..export.collector import PageStateExporter
from ..pagemap.probe import KernelCapabilities
from ..service.pool import ScanPool
from ..service.processes import Processes
from ..service.scans import Scans
from ..service.shutdown import Shutdown
from ..service.summaries import Summaries
from ..service.watches import Watches
from ..settings import Settings
from .metrics import Metrics

__all__ = ["Services", "ServicesDep"]


@dataclass(frozen=True)
class Services:
    """What the routes work with: the settings, the probed kernel, the scan pool, the
    metrics, the shutdown state, the page-state exporter, and the service calls of this app."""

    settings: Settings
    kernel: KernelCapabilities
    pool: ScanPool
    metrics: Metrics
    shutdown: Shutdown
    exporter: PageStateExporter
    scans: Scans
    summaries: Summaries
    watches: Watches
    processes: Processes


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
