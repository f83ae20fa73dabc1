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
from .exceptions import Operation, ProcessGone, ProcessNotFound, ScanTimeout, error_for, translate_errors
from .groups import ProcessFacts, ProcessGroup, first_group
from .probe import probe
from .process import _pidfd_open, read_stat
from .session import ScanOptions, open_scan
from .summary import Counts, summarize

__all__ = ["DEFAULT_SPAN_BYTES", "Member", "count_process", "find_members", "iter_members"]

#: The pages (in bytes) of the exported categories one kernel call reports, at most, for the
#: exporter: 64 MiB of dense anonymous memory holds the mmap lock for well under a millisecond
#: here (kernel-notes 17).
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
    """All of :func:`iter_members` at once."""
    return list(iter_members(groups, containers=containers, exclude=exclude))


def iter_members(
    groups: tuple[ProcessGroup, ...], *, containers: bool, exclude: Collection[int] = ()
) -> Iterator[Member]:
    """The processes that belong to one of ``groups`` or, with ``containers``, to a container;
    by pid. Kernel threads are left out when a group matches on comm (their stat is read then);
    otherwise one may be listed (a cmdline or cgroup pattern that matches it) and
    :func:`count_process` refuses it. ``exclude`` lists pids left out (pmscan itself,
    the deny list). A process that exits while it is looked at is left out."""
    # /proc/PID/stat (comm, and whether it is a kernel thread) costs a read per process of the
    # node on every collection: only a comm matcher needs it. Without, a kernel thread matches
    # no exe (it has none) and is refused by count_process (it has no user memory) otherwise.
    listed = _user_processes() if any(g.key == "comm" for g in groups) else _every_process()
    for pid, comm in listed:
        if pid in exclude:
            continue
        facts = ProcessFacts(pid, comm)
        group = first_group(facts, groups)
        container = None
        if containers:
            memberships = facts.memberships
            container = container_of(memberships) if memberships is not None else None
        if group is not None or container is not None:
            yield Member(pid, group.name if group else None, container)


def _every_process() -> Iterator[tuple[int, str]]:
    """``(pid, "")`` of each process, kernel threads included, by pid: no comm read."""
    for pid in sorted(int(name) for name in os.listdir("/proc") if name.isdigit()):
        yield pid, ""


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
    categories are not reported, so the mapped size comes from ``/proc/PID/statm`` instead.
    Without the ioctl (or for a category it cannot report) the same count goes through
    :func:`.session.open_scan` and its backend.
    """
    kernel = probe()
    if not kernel.pagemap_scan or int(categories) & ~int(kernel.categories):
        return _count_by_scan(
            pid,
            categories=categories,
            page_size=page_size,
            span_pages=span_pages,
            deadline=deadline,
            authorize=authorize,
        )
    return _count(pid, int(categories), kernel.user_address_limit, span_pages, deadline, authorize)


_READ = os.O_RDONLY | os.O_CLOEXEC


def _count(  # noqa: PLR0917 (private; the public arguments are checked by count_process)
    pid: int, mask: int, limit: int, span_pages: int, deadline: float | None, authorize: Authorize | None
) -> Counts:
    """Safe against pid reuse as TargetProcess is (kernel-notes 14), with fewer system calls and
    less Python: a pidfd first, then files by path, then the pidfd says the process has not
    exited, so every file opened before is its own. (TargetProcess also holds /proc/PID open and
    reads its stat: that costs as much again as counting a small process, and a collection
    counts hundreds of processes each time.)"""
    operation: Operation = "open"
    try:
        pidfd = _pidfd_open(pid)
        try:
            operation = "read"
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            fd = os.open(f"/proc/{pid}/statm", _READ)
            try:
                statm = os.read(fd, 256)
                owner = os.fstat(fd).st_uid  # /proc/PID's owner, as every file in it
            finally:
                os.close(fd)
            if poller.poll(0):
                raise ProcessGone(f"process {pid} has exited")
            try:
                mapped = int(statm.split(maxsplit=1)[0])
            except (ValueError, IndexError):
                raise ProcessGone(f"process {pid} exited while its statm was read") from None
            if mapped == 0:
                # A kernel thread (kernel-notes 12), or a process whose memory is torn down.
                raise ProcessNotFound(f"process {pid} has no user memory")
            if authorize is not None:
                credentials = ProcessCredentials(
                    pid, pid, owner, functools.partial(_read_status, pid, poller)
                )
                try:
                    authorize(credentials)
                finally:
                    credentials.seal()
            fd = os.open(f"/proc/{pid}/pagemap", _READ)
            try:
                if poller.poll(0):
                    raise ProcessGone(f"process {pid} has exited")
                operation = "scan"
                walk_end, row = _pagemap.count_scan(
                    fd,
                    0,
                    limit,
                    return_mask=mask,
                    category_anyof_mask=mask,
                    max_pages=span_pages,
                    deadline=deadline or 0.0,
                )
            finally:
                os.close(fd)
            if walk_end < limit and deadline is not None and time.monotonic() > deadline:
                raise ScanTimeout(f"the scan of process {pid} exceeded its time limit")
            # A process that exits meanwhile scans as empty, successfully (kernel-notes 13).
            if poller.poll(0):
                raise ProcessGone(f"process {pid} exited during the scan")
        finally:
            os.close(pidfd)
    except OSError as err:
        translated = error_for(operation, err, f"process {pid}")
        if translated is err:
            raise
        raise translated from err
    return _counts(mapped, row, mask)


def _read_status(pid: int, poller: select.poll) -> str:
    """``/proc/PID/status``, read by path: it is the process's if it is still alive after."""
    with translate_errors("read", f"/proc/{pid}/status"):
        fd = os.open(f"/proc/{pid}/status", _READ)
        try:
            text = os.read(fd, 1 << 16).decode(errors="replace")
        finally:
            os.close(fd)
    if poller.poll(0):
        raise ProcessGone(f"process {pid} exited while its status was read")
    return text


def _counts(mapped: int, row: tuple[int, ...], mask: int) -> Counts:
    # Only the categories asked for (a row holds sixteen counts, most of them not exported):
    # 1 us instead of 2.7 us a process here, on every process of every collection.
    return Counts(pages=mapped, by_category={c: row[i] for i, c in _places(mask) if row[i]})


@functools.cache
def _places(mask: int) -> tuple[tuple[int, Category], ...]:
    """(the place in ``count_scan``'s row, the category) of each category of ``mask``: a row
    holds the total, then one count per bit."""
    return tuple((bit + 1, Category(1 << bit)) for bit in range(len(Category)) if mask >> bit & 1)


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
        ScanOptions(
            start=0,
            end=probe().user_address_limit,
            return_mask=int(categories),
            category_anyof_mask=int(categories),
        ),
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
