"""POST /summary's answers: one process, or every process of a cgroup.

Both run in a scan worker under one pool slot. A cgroup's members are summarized one
after the other, all within the request's single deadline; a member that exits
meanwhile, or that the kernel or the access rules keep from this caller, is listed
under ``skipped`` with its error code instead of failing the whole request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import code_of
from ..pagemap.categories import Category
from ..pagemap.cgroups import parse_cgroup
from ..pagemap.exceptions import AccessDenied, NotWPAsync, ProcessGone, ProcessNotFound, Refused
from ..pagemap.maps import Mapping
from ..pagemap.processes import list_processes
from ..pagemap.scanner import Scan
from ..pagemap.summary import Counts, summarize
from .audit import ProcessAccess
from .schemas import CgroupSummaryResponse, SkippedProcess, SummaryResponse, VmaSummary

__all__ = ["SKIPPED", "Opener", "summarize_cgroup", "summarize_process"]

#: Opens the scan of one process (``open_scan`` with the request's options, rule and deadline).
Opener = Callable[[int], Scan]

#: What leaves one member of a cgroup out of its summary rather than failing the request.
SKIPPED = (ProcessNotFound, ProcessGone, AccessDenied, NotWPAsync, Refused)


def summarize_process(
    pid: int, open_one: Opener, page_size: int, *, by_vma: bool, access: ProcessAccess | None = None
) -> SummaryResponse:
    """Scan ``pid`` with ``open_one(pid)`` and count its pages (blocks: run in a worker)."""
    scan = open_one(pid)
    if access is not None:
        access.scan = scan
    try:
        args = scan.args
        mappings: list[Mapping] | None = None
        if by_vma:
            mappings = [m for m in scan.target.maps() if m.end > args.start and m.start < args.end]
        result = summarize(scan, page_size, mappings)
    finally:
        scan.close()
    return SummaryResponse(
        pid=pid,
        start=args.start,
        end=args.end,
        walk_end=result.walk_end,
        pages=result.total.pages,
        categories=_named(result.total),
        vmas=None
        if result.vmas is None
        else [
            VmaSummary(
                start=m.start, end=m.end, perms=m.perms, path=m.path, pages=c.pages, categories=_named(c)
            )
            for m, c in result.vmas
        ],
    )


def summarize_cgroup(
    cgroup: str,
    open_one: Opener,
    page_size: int,
    *,
    by_vma: bool,
    track: Callable[[int], ProcessAccess],
) -> CgroupSummaryResponse:
    """Summarize every member of ``cgroup`` that ``open_one`` may open (its rule allows it;
    blocks: run in a worker).

    ``track(pid)`` records the access to each member for the audit log. Raises
    ``CgroupNotFound``, and the errors that concern the request rather than a member
    (``ScanTimeout``, ``Unsupported``, …).
    """
    spec = parse_cgroup(cgroup)
    processes: list[SummaryResponse] = []
    skipped: list[SkippedProcess] = []
    total: dict[Any, int] = {}
    for entry in list_processes(cgroup=spec):
        access = track(entry.pid)
        try:
            summary = summarize_process(entry.pid, open_one, page_size, by_vma=by_vma, access=access)
        except SKIPPED as exc:
            access.error = exc
            reason = getattr(exc, "message", None) or str(exc)
            skipped.append(SkippedProcess(pid=entry.pid, code=code_of(exc), reason=reason))
            continue
        finally:
            access.finish()
        processes.append(summary)
        for name, pages in summary.categories.items():
            total[name] = total.get(name, 0) + pages
    return CgroupSummaryResponse(
        cgroup=str(spec),
        processes=processes,
        skipped=skipped,
        pages=sum(p.pages for p in processes),
        categories={name: total[name] for name in sorted(total, key=lambda n: Category[n].value)},
    )


def _named(counts: Counts) -> dict[Any, int]:
    return {Category(c).name: n for c, n in sorted(counts.by_category.items())}
