"""Processes: discovery (each with its container), mappings, soft-dirty reset."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request, Response

from ...pagemap.cgroups import ContainerSelector
from ...pagemap.exceptions import (
    AccessDenied,
    AmbiguousContainer,
    CgroupNotFound,
    Denied,
    NotOwner,
    ProcessGone,
    ProcessNotFound,
    Unsupported,
)
from ...security.principals import MissingScope, Unauthenticated
from ...service.pool import Busy
from ..answers import Disconnected
from ..auth import RequireWrite, TargetRule
from ..deps import ServicesDep
from ..exception_handlers import VALIDATION, responses
from ..observe import track
from ..query import DecimalDigits
from ..schemas import CgroupPath, ContainerId, MappingInfo, PodUid, ProcessInfo
from .routers import protected_router

router = protected_router(prefix="/processes", tags=["processes"])


@router.get(
    "",
    operation_id="list_processes",
    response_model=list[ProcessInfo],
    responses=responses(Unauthenticated, CgroupNotFound, AmbiguousContainer, VALIDATION, Busy),
)
async def processes(  # noqa: PLR0917 (the filters)
    request: Request,
    services: ServicesDep,
    comm: Annotated[str | None, Query(max_length=64, description="exact command name")] = None,
    uid: Annotated[int | None, Query(ge=0, le=(1 << 32) - 1), DecimalDigits] = None,
    cgroup: Annotated[CgroupPath | None, Query()] = None,
    container_id: Annotated[ContainerId | None, Query()] = None,
    pod_uid: Annotated[PodUid | None, Query()] = None,
) -> list[ProcessInfo]:
    """User processes (no kernel threads), by pid, each with its container; ``cgroup`` keeps
    those in it or below it, ``container_id`` those of that container (a prefix naming several
    is a 422), ``pod_uid`` those of that pod's containers."""
    entries = await services.processes.find(
        comm=comm,
        uid=uid,
        cgroup=cgroup,
        containers=ContainerSelector(container_id=container_id, pod_uid=pod_uid),
        cancelled=Disconnected(request.receive),
    )
    return [ProcessInfo.of(e) for e in entries]


Pid = Annotated[int, Path(gt=0, le=(1 << 31) - 1, description="the target process"), DecimalDigits]

#: What opening a process can meet.
TARGET_ERRORS = (
    Unauthenticated,
    Denied,
    NotOwner,
    AccessDenied,
    ProcessNotFound,
    ProcessGone,
    VALIDATION,
    Busy,
)


@router.get(
    "/{pid}/maps",
    operation_id="get_maps",
    response_model=list[MappingInfo],
    responses=responses(*TARGET_ERRORS),
)
async def maps(request: Request, services: ServicesDep, pid: Pid, rule: TargetRule) -> list[MappingInfo]:
    access = track(request, "maps", pid)
    mappings = await services.processes.maps(
        pid, authorize=rule, access=access, cancelled=Disconnected(request.receive)
    )
    return [MappingInfo(**m._asdict()) for m in mappings]


@router.post(
    "/{pid}/clear-soft-dirty",
    operation_id="clear_soft_dirty",
    status_code=204,
    responses=responses(*TARGET_ERRORS, MissingScope, Unsupported),
    dependencies=[RequireWrite],
)
async def clear_soft_dirty(request: Request, services: ServicesDep, pid: Pid, rule: TargetRule) -> Response:
    access = track(request, "clear_soft_dirty", pid)
    await services.processes.clear_soft_dirty(
        pid, authorize=rule, access=access, cancelled=Disconnected(request.receive)
    )
    return Response(status_code=204)
