"""Counting pages (``POST /summary``): of one process, or of every process of a cgroup, of a
container or of a pod's containers.

Each runs in a scan worker under one pool slot. A group's members (the processes it has at
that moment) are summarized one after the other, all within the request's single deadline; a
member that exits meanwhile, or that the kernel or the access rules keep from this caller, is
listed under ``skipped`` with its error code instead of failing the whole request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..errors import code_of
from ..pagemap.cgroups import ContainerSelector, parse_cgroup
from ..pagemap.exceptions import AccessDenied, NotWPAsync, ProcessGone, ProcessNotFound, Refused
from ..pagemap.maps import Mapping
from ..pagemap.policy import Authorize
from ..pagemap.processes import ContainerEntry, find_workload, list_processes
from ..pagemap.scanner import Scan
from ..pagemap.session import ScanOptions, open_scan
from ..pagemap.summary import Counts, summarize
from .audit import ProcessAccess
from .pool import ScanPool
from .scans import ScanLimits

__all__ = [
    "SKIPPED",
    "CgroupSummary",
    "Member",
    "ProcessSummary",
    "Skipped",
    "Summaries",
    "Track",
    "WorkloadSummary",
    "summarize_members",
]

#: What leaves one member of a group (a cgroup, a container, a pod) out of its summary rather
#: than failing the request.
SKIPPED = (ProcessNotFound, ProcessGone, AccessDenied, NotWPAsync, Refused)

#: Starts the record of the access to one process (the HTTP layer's ``track``).
Track = Callable[[int], ProcessAccess]


@dataclass(frozen=True)
class ProcessSummary:
    """The pages of ``pid`` in ``[start, end)``, up to ``walk_end``: in all and per category
    (``total``), and per mapping that has some (``vmas``, when asked for)."""

    pid: int
    start: int
    end: int
    walk_end: int
    total: Counts
    vmas: list[tuple[Mapping, Counts]] | None


@dataclass(frozen=True)
class Skipped:
    """A member of a group left out of its summary: the error's ``code`` and ``reason``."""

    pid: int
    code: str
    reason: str


@dataclass(frozen=True)
class CgroupSummary:
    """The summaries of the members of ``cgroup`` that could be counted, those ``skipped``, and
    the sum of their pages."""

    cgroup: str
    processes: list[ProcessSummary]
    skipped: list[Skipped]
    total: Counts


@dataclass(frozen=True)
class WorkloadSummary:
    """The summaries of the processes that ``containers`` (those ``selector`` names: a
    container, or every container of a pod) had at that moment, those ``skipped``, and the sum
    of their pages."""

    selector: ContainerSelector
    containers: list[ContainerEntry]
    processes: list[ProcessSummary]
    skipped: list[Skipped]
    total: Counts


@dataclass
class Member:
    """What summarizing one member did, for its audit line (recorded on the event loop)."""

    pid: int
    started: float
    ended: float = 0.0
    scan: Scan | None = None
    error: BaseException | None = None


class Summaries:
    """Summaries of processes in ``pool``, within ``limits`` (``page_size``: the kernel's)."""

    def __init__(self, pool: ScanPool, limits: ScanLimits, *, page_size: int) -> None:
        self.pool = pool
        self.limits = limits
        self.page_size = page_size

    async def summarize(
        self,
        target: int | str | ContainerSelector,
        options: ScanOptions,
        *,
        by_vma: bool,
        authorize: Authorize,
        track: Track,
        cancelled: Awaitable[object] | None = None,
    ) -> ProcessSummary | CgroupSummary | WorkloadSummary:
        """The summary of process ``target`` (an ``int``), or of each process of cgroup
        ``target`` (a ``str``) or of the containers ``target`` selects (a container, or a pod's),
        in the scan ``options`` describe, as ``authorize`` allows; each process's access is
        recorded on what ``track(pid)`` returns. Raises ``Busy``, and the domain's errors (for a
        cgroup ``CgroupNotFound``; for containers ``ContainerNotFound``, ``PodNotFound``,
        ``AmbiguousContainer``; and those that concern the request rather than a member:
        ``ScanTimeout``, ``Unsupported``, …)."""
        deadline = time.monotonic() + self.limits.timeout_seconds
        chunk_records, page_size = self.limits.chunk_records, self.page_size

        def open_one(pid: int) -> Scan:
            return open_scan(
                pid, options, authorize=authorize, chunk_records=chunk_records, deadline=deadline
            )

        members: list[Member] = []
        if isinstance(target, int):
            pid = target
            access = track(pid)

            def job() -> ProcessSummary | CgroupSummary | WorkloadSummary:
                members.append(Member(pid, access.started))
                return _summarize_process(pid, open_one, page_size, by_vma=by_vma, member=members[0])

            def record() -> None:  # on the event loop, once the job has returned
                if members and members[0].scan is not None:
                    access.scanned(members[0].scan)

        else:
            group = target

            def job() -> ProcessSummary | CgroupSummary | WorkloadSummary:
                if isinstance(group, str):
                    spec = parse_cgroup(group)
                    pids = [entry.pid for entry in list_processes(cgroup=spec)]
                    found = summarize_members(pids, open_one, page_size, by_vma=by_vma, members=members)
                    return CgroupSummary(str(spec), *found)
                containers = find_workload(group)
                pids = sorted({pid for container in containers for pid in container.pids})
                found = summarize_members(pids, open_one, page_size, by_vma=by_vma, members=members)
                return WorkloadSummary(group, containers, *found)

            def record() -> None:  # on the event loop, once the job has returned
                for member in members:
                    access = track(member.pid)
                    access.started, access.ended, access.error = member.started, member.ended, member.error
                    if member.scan is not None:
                        access.scanned(member.scan)

        return await self.pool.run_leased(job, cancelled, after=record)


def _summarize_process(
    pid: int, open_one: Callable[[int], Scan], page_size: int, *, by_vma: bool, member: Member
) -> ProcessSummary:
    """Scan ``pid`` with ``open_one(pid)`` and count its pages (blocks: run in a worker)."""
    scan = member.scan = open_one(pid)
    try:
        args = scan.args
        mappings: list[Mapping] | None = None
        if by_vma:
            mappings = [m for m in scan.target.maps() if m.end > args.start and m.start < args.end]
        result = summarize(scan, page_size, mappings)
    finally:
        scan.close()
    return ProcessSummary(pid, args.start, args.end, result.walk_end, result.total, result.vmas)


def summarize_members(
    pids: list[int], open_one: Callable[[int], Scan], page_size: int, *, by_vma: bool, members: list[Member]
) -> tuple[list[ProcessSummary], list[Skipped], Counts]:
    """Summarize each of ``pids`` that ``open_one`` may open (blocks: run in a worker), each
    one's audit facts appended to ``members``: the summaries, the processes skipped, the sum."""
    processes: list[ProcessSummary] = []
    skipped: list[Skipped] = []
    total = Counts()
    for pid in pids:
        member = Member(pid, time.monotonic())
        members.append(member)
        try:
            summary = _summarize_process(pid, open_one, page_size, by_vma=by_vma, member=member)
        except SKIPPED as exc:
            member.error = exc
            reason = getattr(exc, "message", None) or str(exc)
            skipped.append(Skipped(pid, code_of(exc), reason))
            continue
        finally:
            member.ended = time.monotonic()
        processes.append(summary)
        total.pages += summary.total.pages
        for category, pages in summary.total.by_category.items():
            total.by_category[category] = total.by_category.get(category, 0) + pages
    return processes, skipped, total
