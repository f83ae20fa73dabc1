"""Counting pages (``POST /summary``): of one process, or of every process of a cgroup.

Both run in a scan worker under one pool slot. A cgroup's members are summarized one
after the other, all within the request's single deadline; a member that exits
meanwhile, or that the kernel or the access rules keep from this caller, is listed
under ``skipped`` with its error code instead of failing the whole request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..errors import code_of
from ..pagemap.cgroups import parse_cgroup
from ..pagemap.exceptions import AccessDenied, NotWPAsync, ProcessGone, ProcessNotFound, Refused
from ..pagemap.maps import Mapping
from ..pagemap.policy import Authorize
from ..pagemap.processes import list_processes
from ..pagemap.scanner import Scan
from ..pagemap.session import ScanOptions, open_scan
from ..pagemap.summary import Counts, summarize
from .audit import ProcessAccess
from .pool import ScanPool
from .scans import ScanLimits

__all__ = ["SKIPPED", "CgroupSummary", "ProcessSummary", "Skipped", "Summaries", "Track"]

#: What leaves one member of a cgroup out of its summary rather than failing the request.
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
    """A member of a cgroup left out of its summary: the error's ``code`` and ``reason``."""

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


@dataclass
class _Member:
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
        target: int | str,
        options: ScanOptions,
        *,
        by_vma: bool,
        authorize: Authorize,
        track: Track,
        cancelled: Awaitable[object] | None = None,
    ) -> ProcessSummary | CgroupSummary:
        """The summary of process ``target`` (an ``int``) or of each process of cgroup
        ``target`` (a ``str``) in the scan ``options`` describe, as ``authorize`` allows; each
        process's access is recorded on what ``track(pid)`` returns. Raises ``Busy``, and the
        domain's errors (for a cgroup ``CgroupNotFound``, and those that concern the request
        rather than a member: ``ScanTimeout``, ``Unsupported``, …)."""
        deadline = time.monotonic() + self.limits.timeout_seconds
        chunk_records, page_size = self.limits.chunk_records, self.page_size

        def open_one(pid: int) -> Scan:
            return open_scan(
                pid, options, authorize=authorize, chunk_records=chunk_records, deadline=deadline
            )

        members: list[_Member] = []
        if isinstance(target, str):
            cgroup = target

            def job() -> ProcessSummary | CgroupSummary:
                return _summarize_cgroup(cgroup, open_one, page_size, by_vma=by_vma, members=members)

            def record() -> None:  # on the event loop, once the job has returned
                for member in members:
                    access = track(member.pid)
                    access.started, access.ended, access.error = member.started, member.ended, member.error
                    if member.scan is not None:
                        access.scanned(member.scan)

        else:
            pid = target
            access = track(pid)

            def job() -> ProcessSummary | CgroupSummary:
                members.append(_Member(pid, access.started))
                return _summarize_process(pid, open_one, page_size, by_vma=by_vma, member=members[0])

            def record() -> None:  # on the event loop, once the job has returned
                if members and members[0].scan is not None:
                    access.scanned(members[0].scan)

        return await self.pool.run_leased(job, cancelled, after=record)


def _summarize_process(
    pid: int, open_one: Callable[[int], Scan], page_size: int, *, by_vma: bool, member: _Member
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


def _summarize_cgroup(
    cgroup: str, open_one: Callable[[int], Scan], page_size: int, *, by_vma: bool, members: list[_Member]
) -> CgroupSummary:
    """Summarize every member of ``cgroup`` that ``open_one`` may open (blocks: run in a
    worker), each one's audit facts appended to ``members``."""
    spec = parse_cgroup(cgroup)
    processes: list[ProcessSummary] = []
    skipped: list[Skipped] = []
    total = Counts()
    for entry in list_processes(cgroup=spec):
        member = _Member(entry.pid, time.monotonic())
        members.append(member)
        try:
            summary = _summarize_process(entry.pid, open_one, page_size, by_vma=by_vma, member=member)
        except SKIPPED as exc:
            member.error = exc
            reason = getattr(exc, "message", None) or str(exc)
            skipped.append(Skipped(entry.pid, code_of(exc), reason))
            continue
        finally:
            member.ended = time.monotonic()
        processes.append(summary)
        total.pages += summary.total.pages
        for category, pages in summary.total.by_category.items():
            total.by_category[category] = total.by_category.get(category, 0) + pages
    return CgroupSummary(str(spec), processes, skipped, total)
