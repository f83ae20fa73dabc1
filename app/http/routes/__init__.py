"""The routers: the public one, and those whose every route needs a token (``.routers``)."""

from . import containers, processes, scan, service, watch

__all__ = ["protected", "public"]

public = service.public
protected = (scan.router, processes.router, containers.router, service.router, watch.router)
