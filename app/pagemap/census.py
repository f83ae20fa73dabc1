"""What a page-state exporter counts: which processes, in which group and container, and the
page counts of one process.

The counts of a process are the domain's summary (:func:`.summary.summarize`) of its whole
user address range: the numbers ``POST /summary`` gives for it. Each kernel call walks at most
``span_pages`` pages (see :class:`.scanner.Scan`), so that no hold of the target's mmap lock is
long however large the process (kernel-notes 17).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from .categories import Category
from .containers import Container, container_of
from .credentials import Authorize
from .groups import ProcessFacts, ProcessGroup, first_group
from .probe import probe
from .process import read_stat
from .session import ScanOptions, open_scan
from .summary import Counts, summarize

__all__ = ["DEFAULT_SPAN_BYTES", "Member", "count_process", "find_members"]

#: The address range one kernel call walks, at most, for the exporter: 64 MiB of dense anonymous
#: memory holds the mmap lock for well under a millisecond here (kernel-notes 17).
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
    for pid, comm in _user_processes():
        if pid in exclude:
            continue
        facts = ProcessFacts(pid, comm)
        group = first_group(facts, groups)
        container = None
        if containers:
            memberships = facts.memberships
            container = container_of(memberships) if memberships is not None else None
        if group is not None or container is not None:
            members.append(Member(pid, group.name if group else None, container))
    return members


def _user_processes() -> Iterator[tuple[int, str]]:
    """``(pid, comm)`` of each process but kernel threads, by pid: ``/proc/PID/stat`` alone (a
    collection lists every process each time: what ``list_processes`` reads more is not needed)."""
    for pid in sorted(int(name) for name in os.listdir("/proc") if name.isdigit()):
        try:
            # os.read: a text-mode open() costs four times as much, for every process each time.
            fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
            try:
                stat = read_stat(os.read(fd, 4096).decode(errors="replace"))
            finally:
                os.close(fd)
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
        if not stat.kernel_thread:
            yield pid, stat.comm


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
    # FILE (kernel-notes 18), and fewer bits merge into fewer regions. The whole user range
    # counts the same pages as [lowest mapping, highest end) (gaps between mappings are never
    # reported) without asking the kernel where the mappings are: a collection opens every
    # process, and for a small one that query costs a fifth of the count.
    scan = open_scan(
        pid,
        ScanOptions(start=0, end=probe().user_address_limit, return_mask=int(categories)),
        deadline=deadline,
        authorize=authorize,
        span_pages=span_pages,
    )
    try:
        return summarize(scan, page_size).total
    finally:
        scan.close()
