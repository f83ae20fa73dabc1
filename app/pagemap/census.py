"""What a page-state exporter counts: which processes, in which group and container, and the
page counts of one process.

The counts of a process are the domain's summary (:func:`.summary.summarize`) of its whole
user address range: the numbers ``POST /summary`` gives for it. Each kernel call walks at most
``span_pages`` pages (see :class:`.scanner.Scan`), so that no hold of the target's mmap lock is
long however large the process (KERNEL_NOTES 17).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from .categories import Category
from .containers import Container, container_of
from .credentials import Authorize
from .groups import ProcessFacts, ProcessGroup, first_group
from .processes import list_processes
from .session import open_scan
from .summary import Counts, summarize

__all__ = ["DEFAULT_SPAN_BYTES", "Member", "count_process", "find_members"]

#: The address range one kernel call walks, at most, for the exporter: 64 MiB of dense anonymous
#: memory holds the mmap lock for well under a millisecond here (KERNEL_NOTES 17).
DEFAULT_SPAN_BYTES = 64 << 20


@dataclass(frozen=True)
class Member:
    """A process to count: its group (None: in no group) and container (None: in none)."""

    pid: int
    group: str | None
    container: Container | None


def find_members(
    groups: tuple[ProcessGroup, ...], *, containers: bool, exclude: Collection[int] = ()
) -> list[Member]:
    """The user processes (no kernel threads) that belong to one of ``groups`` or, with
    ``containers``, to a container; by pid. ``exclude`` lists pids left out (pmscan itself,
    the deny list). A process that exits while it is looked at is left out."""
    members = []
    for entry in list_processes():
        if entry.pid in exclude:
            continue
        facts = ProcessFacts(entry.pid, entry.comm)
        group = first_group(facts, groups)
        container = None
        if containers:
            memberships = facts.memberships
            container = container_of(memberships) if memberships is not None else None
        if group is not None or container is not None:
            members.append(Member(entry.pid, group.name if group else None, container))
    return members


def count_process(
    pid: int,
    *,
    categories: Category,
    page_size: int,
    span_pages: int,
    deadline: float | None = None,
    authorize: Authorize | None = None,
) -> Counts:
    """The pages of ``pid``'s mappings (below the user address limit) and, of those, the pages
    of each of ``categories``: the counts of ``POST /summary`` for it. Blocks (run it in a
    worker). Raises the errors of :func:`.session.open_scan` and :class:`.scanner.Scan`
    (``ProcessGone`` when it exits meanwhile, ``ScanTimeout`` past ``deadline``)."""
    # Only the categories exported go into return_mask: the kernel looks a page up only for
    # FILE (KERNEL_NOTES 18), and fewer bits merge into fewer regions.
    scan = open_scan(
        pid, return_mask=int(categories), deadline=deadline, authorize=authorize, span_pages=span_pages
    )
    try:
        return summarize(scan, page_size).total
    finally:
        scan.close()
