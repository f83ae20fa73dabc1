"""Processes: discovery, mappings, soft-dirty reset."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query, Response

from ...pagemap.processes import list_processes
from ...pagemap.process import TargetProcess
from ..deps import PoolDep
from ..schemas import MappingInfo, ProcessInfo
from .scan import ERRORS

router = APIRouter(prefix="/processes", tags=["processes"])

Pid = Path(gt=0, le=(1 << 31) - 1, description="the target process")


@router.get("", operation_id="list_processes", response_model=list[ProcessInfo])
async def processes(
    pool: PoolDep,
    comm: str | None = Query(default=None, max_length=64, description="exact command name"),
    uid: int | None = Query(default=None, ge=0, le=(1 << 32) - 1),
) -> list[ProcessInfo]:
    entries = await pool.run(lambda: list(list_processes(comm=comm, uid=uid)))
    return [ProcessInfo(**e._asdict()) for e in entries]


@router.get("/{pid}/maps", operation_id="get_maps", response_model=list[MappingInfo], responses=ERRORS)
async def maps(pool: PoolDep, pid: int = Pid) -> list[MappingInfo]:
    def read() -> list[MappingInfo]:
        with TargetProcess(pid) as target:
            return [MappingInfo(**m._asdict()) for m in target.maps()]

    return await pool.run(read)


@router.post(
    "/{pid}/clear-soft-dirty", operation_id="clear_soft_dirty", status_code=204, responses=ERRORS
)
async def clear_soft_dirty(pool: PoolDep, pid: int = Pid) -> Response:
    def clear() -> None:
        with TargetProcess(pid) as target:
            target.clear_soft_dirty()

    await pool.run(clear)
    return Response(status_code=204)
