"""What a page-state exporter counts: which processes, in which group and container, and the
page counts of one process.

The counts of a process are, per category, the numbers ``POST /summary`` gives for it (the
pages of its whole user address range having that category), counted by one C loop over the
kernel's ioctl that asks only for pages having one of the exported categories; its mapped
size is its ``VmSize``. Each kernel call reports at most ``span_pages`` pages, so that no hold
of the target's mmap lock is long however large the process (kernel-notes 17).
"""

from __future__ import annotations

import functools
import os
import select
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from . import _pagemap
from .categories import Category
from .containers import Container, container_of
from .credentials import Authorize, ProcessCredentials
from .exceptions import ProcessGone, ProcessNotFound, ScanTimeout, translate_errors
from .groups import ProcessFacts, ProcessGroup, first_group
from .probe import probe
from .process import _pidfd_open, read_stat
from .session import open_scan
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
    """The size of ``pid``'s mappings in pages (its ``VmSize``) and the pages of each of
    ``categories``: for those, the counts of ``POST /summary`` for it. Blocks (run it in a
    worker). Raises the errors of :class:`.process.TargetProcess` and of a scan
    (``ProcessGone`` when it exits meanwhile, ``ScanTimeout`` past ``deadline``).

    The kernel reports only the pages having one of ``categories`` (``category_anyof_mask``)
    and looks up none it need not (kernel-notes 18: only what ``return_mask`` holds), and the
    whole count is one C loop over the ioctl (:func:`._pagemap.count_scan`): no record, no
    Python object per call. Each call reports at most ``span_pages`` pages (0: no bound), which
    bounds its hold of the target's mmap lock (kernel-notes 17). The pages having none of the
    categories are not reported, so the mapped size comes from ``/proc/PID/statm`` instead
    (read through the held ``/proc/PID`` directory).
    """
    kernel = probe()
    if not kernel.pagemap_scan or categories & ~kernel.categories:
        return _count_by_scan(
            pid,
            categories=categories,
            page_size=page_size,
            span_pages=span_pages,
            deadline=deadline,
            authorize=authorize,
        )
    limit = kernel.user_address_limit
    mask = int(categories)
    subject = f"process {pid}"
    # Safe against pid reuse as TargetProcess is (kernel-notes 14), with fewer system calls:
    # a pidfd first, then files by path, then the pidfd says the process has not exited, so
    # every file opened before belongs to it. TargetProcess also holds /proc/PID open and
    # reads its stat; that costs as much again as counting a small process, for each of the
    # hundreds of processes a collection counts.
    with translate_errors("open", subject):
        pidfd = _pidfd_open(pid)
    try:
        with translate_errors("read", subject):
            owner = os.stat(f"/proc/{pid}").st_uid
            mapped = _read_statm(pid)
        _ensure_alive(pidfd, pid)
        if mapped == 0:
            # A kernel thread (kernel-notes 12), or a process whose memory is being torn down.
            raise ProcessNotFound(f"process {pid} has no user memory")
        if authorize is not None:
            credentials = ProcessCredentials(pid, pid, owner, functools.partial(_read_status, pid, pidfd))
            try:
                authorize(credentials)
            finally:
                credentials.seal()
        with translate_errors("read", f"/proc/{pid}/pagemap"):
            pagemap = os.open(f"/proc/{pid}/pagemap", _READ)
        try:
            _ensure_alive(pidfd, pid)
            with translate_errors("scan", subject):
                walk_end, row = _pagemap.count_scan(
                    pagemap,
                    0,
                    limit,
                    return_mask=mask,
                    category_anyof_mask=mask,
                    max_pages=span_pages,
                    deadline=deadline or 0.0,
                )
        finally:
            os.close(pagemap)
        if walk_end < limit and deadline is not None and time.monotonic() > deadline:
            raise ScanTimeout(f"the scan of process {pid} exceeded its time limit")
        # A process that exits meanwhile scans as empty, successfully (kernel-notes 13).
        _ensure_alive(pidfd, pid, "during the scan")
    finally:
        os.close(pidfd)
    return _counts(mapped, row)


_READ = os.O_RDONLY | os.O_CLOEXEC


def _ensure_alive(pidfd: int, pid: int, when: str = "") -> None:
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    if poller.poll(0):
        raise ProcessGone(f"process {pid} exited {when}".rstrip())


def _read_statm(pid: int) -> int:
    """``VmSize`` in pages: the first field of ``/proc/PID/statm``, the sum of the sizes of the
    process's mappings (``[vsyscall]``, above the user address limit, is none of them)."""
    fd = os.open(f"/proc/{pid}/statm", _READ)
    try:
        text = os.read(fd, 256)
    finally:
        os.close(fd)
    try:
        return int(text.split(maxsplit=1)[0])
    except (ValueError, IndexError):
        raise ProcessGone(f"process {pid} exited while its statm was read") from None


def _read_status(pid: int, pidfd: int) -> str:
    """``/proc/PID/status``, read by path: it is the process's if it is still alive after."""
    with translate_errors("read", f"/proc/{pid}/status"):
        fd = os.open(f"/proc/{pid}/status", _READ)
        try:
            text = os.read(fd, 1 << 16).decode(errors="replace")
        finally:
            os.close(fd)
    _ensure_alive(pidfd, pid)
    return text


def _counts(mapped: int, row: tuple[int, ...]) -> Counts:
    counts = Counts(pages=mapped)
    for bit, pages in enumerate(row[1:]):
        if pages:
            counts.by_category[Category(1 << bit)] = pages
    return counts


def _count_by_scan(
    pid: int,
    *,
    categories: Category,
    page_size: int,
    span_pages: int,
    deadline: float | None,
    authorize: Authorize | None,
) -> Counts:
    """The same count through :func:`.session.open_scan` (the pagemap emulation on a kernel
    without the ioctl; it raises ``Unsupported`` for a category the backend cannot report)."""
    scan = open_scan(
        pid,
        start=0,
        end=probe().user_address_limit,
        return_mask=int(categories),
        category_anyof_mask=int(categories),
        deadline=deadline,
        authorize=authorize,
        span_pages=span_pages,
    )
    try:
        mapped = int(scan.target.read("statm").split(maxsplit=1)[0])
        total = summarize(scan, page_size).total
    finally:
        scan.close()
    return Counts(pages=mapped, by_category=total.by_category)
