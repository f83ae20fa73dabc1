"""The routers: public ones, and the protected one every other route hangs under."""

from fastapi import APIRouter, Depends

from ..auth import authenticate
from . import containers, processes, scan, service, watch

__all__ = ["protected", "public"]

public = service.public
#: Every route under this router needs a token; auth attaches to it, not to routes.
protected = APIRouter(dependencies=[Depends(authenticate)])
protected.include_router(scan.router)
protected.include_router(processes.router)
protected.include_router(containers.router)
protected.include_router(service.router)
protected.include_router(watch.router)
