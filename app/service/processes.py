"""The processes of this node and the containers they are in: listing them, their mappings,
resetting their soft-dirty bits.

Each runs in a scan worker under a pool slot, like a scan: reading ``/proc/PID`` of another
process can wait on its mmap lock too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..pagemap.cgroups import ContainerSelector, parse_cgroup
from ..pagemap.maps import Mapping
from ..pagemap.policy import Authorize
from ..pagemap.process import TargetProcess
from ..pagemap.processes import ContainerEntry, ProcessEntry, list_containers, list_processes
from .audit import ProcessAccess
from .pool import ScanPool

__all__ = ["Processes"]

T = TypeVar("T")


class Processes:
    """What is done to processes in ``pool`` besides scanning them."""

    def __init__(self, pool: ScanPool) -> None:
        self.pool = pool

    async def find(
        self,
        *,
        comm: str | None = None,
        uid: int | None = None,
        cgroup: str | None = None,
        containers: ContainerSelector | None = None,
        cancelled: Awaitable[object] | None = None,
    ) -> list[ProcessEntry]:
        """User processes (no kernel threads), by pid, each with its container, as
        ``list_processes`` filters them (raises ``CgroupNotFound``, ``AmbiguousContainer``,
        ``Busy``)."""
        spec = parse_cgroup(cgroup) if cgroup is not None else None
        return await self.pool.run_leased(
            lambda: list_processes(comm=comm, uid=uid, cgroup=spec, containers=containers), cancelled
        )

    async def containers(
        self, selector: ContainerSelector, *, cancelled: Awaitable[object] | None = None
    ) -> list[ContainerEntry]:
        """The containers that have processes here, those ``selector`` selects (raises
        ``AmbiguousContainer``, ``Busy``)."""
        return await self.pool.run_leased(lambda: list_containers(selector), cancelled)

    async def maps(
        self,
        pid: int,
        *,
        authorize: Authorize,
        access: ProcessAccess,
        cancelled: Awaitable[object] | None = None,
    ) -> list[Mapping]:
        """The mappings of ``pid``, as ``/proc/PID/maps`` lists them (raises the errors of
        opening a process, and ``Busy``)."""
        return await self._on(pid, TargetProcess.maps, authorize, access, cancelled)

    async def clear_soft_dirty(
        self,
        pid: int,
        *,
        authorize: Authorize,
        access: ProcessAccess,
        cancelled: Awaitable[object] | None = None,
    ) -> None:
        """Reset the soft-dirty bits of the whole of ``pid`` (raises as :meth:`maps`, and
        ``Unsupported`` without soft-dirty tracking)."""
        await self._on(pid, TargetProcess.clear_soft_dirty, authorize, access, cancelled)

    async def _on(
        self,
        pid: int,
        act: Callable[[TargetProcess], T],
        authorize: Authorize,
        access: ProcessAccess,
        cancelled: Awaitable[object] | None,
    ) -> T:
        """``act`` on ``pid`` opened as ``authorize`` allows, in a scan worker; ``access`` gets
        the process's comm, on the event loop, once it was opened (also when ``act`` fails)."""
        opened: list[TargetProcess] = []

        def job() -> T:
            with TargetProcess(pid, authorize=authorize) as target:
                opened.append(target)
                return act(target)

        def record() -> None:  # on the event loop, once the job has returned
            if opened:
                access.opened(opened[0])

        return await self.pool.run_leased(job, cancelled, after=record)
