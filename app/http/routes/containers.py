"""Containers: those that have processes on this node, recognized from their cgroup paths."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from ...pagemap.cgroups import ContainerSelector
from ...pagemap.exceptions import AmbiguousContainer
from ...security.principals import Unauthenticated
from ...service.pool import Busy
from ..answers import Disconnected
from ..deps import ServicesDep
from ..exception_handlers import VALIDATION, responses
from ..schemas import ContainerId, ContainerInfo, PodUid, Runtime
from .routers import protected_router

router = protected_router(prefix="/containers", tags=["containers"])


@router.get(
    "",
    operation_id="list_containers",
    response_model=list[ContainerInfo],
    responses=responses(Unauthenticated, AmbiguousContainer, VALIDATION, Busy),
)
async def containers(
    request: Request,
    services: ServicesDep,
    pod_uid: Annotated[PodUid | None, Query()] = None,
    container_id: Annotated[ContainerId | None, Query()] = None,
    runtime: Annotated[Runtime | None, Query(description="as the cgroup path names it")] = None,
) -> list[ContainerInfo]:
    """The containers that have at least one process on this node, by pod UID then container
    id, each with its processes; the filters keep those of a pod, the one container an id (or a
    prefix of at least 12 digits: one naming several is a 422) names, those of a runtime. A
    filter that matches nothing gives an empty list."""
    entries = await services.processes.containers(
        ContainerSelector(container_id=container_id, pod_uid=pod_uid, runtime=runtime),
        cancelled=Disconnected(request.receive),
    )
    return [ContainerInfo.of(entry) for entry in entries]
