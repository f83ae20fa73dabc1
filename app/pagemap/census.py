"""What a page-state exporter counts: which processes, in which group and container, and the
page counts of one process.

The counts of a process are, per category, the numbers ``POST /summary`` gives for it (the
pages of its whole user address range having that category), counted by one C loop over the
kernel's ioctl that asks only for pages having one of the exported categories; its mapped
size is its ``VmSize``. Each kernel call reports at most ``span_pages`` pages, so that no hold
of the target's mmap lock is long however large the process (kernel-notes 17).
"""

from __future__ import annotations

import errno
import functools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from . import _pagemap
from .categories import Category
from .containers import Container, container_of
from .credentials import Authorize, ProcessCredentials, check
from .exceptions import Operation, ProcessGone, ProcessNotFound, ScanTimeout, error_for, translate_errors
from .groups import ProcessFacts, ProcessGroup, first_group
from .probe import probe
from .process import _pidfd_open, pidfd_exited, read_stat
from .session import ScanOptions, open_scan
from .summary import Counts, summarize

__all__ = [
    "COUNT_VEC_LEN",
    "DEFAULT_SPAN_BYTES",
    "Member",
    "ProcessCounter",
    "count_process",
    "find_members",
    "iter_members",
    "kept_pagemap_fails_once_gone",
]

#: The pages (in bytes) of the exported categories one kernel call reports, at most, for the
#: exporter: 64 MiB of dense anonymous memory holds the mmap lock for well under a millisecond
#: here (kernel-notes 17).
DEFAULT_SPAN_BYTES = 64 << 20


class Member(NamedTuple):
    """A process to count: its group (None: in no group) and container (None: in none). (A
    tuple: made for every matching process of every collection, it costs a fifth of a frozen
    dataclass here.)"""

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
#: Records of ``count_scan``'s buffer: fewer kernel calls, each with its own fixed cost (the
#: system call, the target's mmap lock taken again), for a process of scattered pages (a large
#: reservation sparsely written).
COUNT_VEC_LEN = 4096


def _count(  # noqa: PLR0917 (private; the public arguments are checked by count_process)
    pid: int, mask: int, limit: int, span_pages: int, deadline: float | None, authorize: Authorize | None
) -> Counts:
    """Safe against pid reuse as TargetProcess is (kernel-notes 14), with fewer system calls and
    less Python: a pidfd first, then files by path, then the pidfd says the process has not
    exited, so every file opened before is its own. (TargetProcess also holds /proc/PID open and
    reads its stat: that costs as much again as counting a small process, and a collection
    counts hundreds of processes each time.)"""
    kept, mapped, pidfd = _open_kept(pid, authorize)
    try:
        counts = _count_pages(pid, kept, mapped, mask, limit, span_pages, deadline)
        # A process that exits meanwhile scans as empty, successfully (kernel-notes 13).
        if pidfd_exited(pidfd):
            raise ProcessGone(f"process {pid} exited during the scan")
    finally:
        os.close(pidfd)
        kept.close()
    return counts


def _read_status(pid: int, pidfd: int) -> str:
    """``/proc/PID/status``, read by path: it is the process's if it is still alive after."""
    text = _status_by_path(pid)
    if pidfd_exited(pidfd):
        raise ProcessGone(f"process {pid} exited while its status was read")
    return text


def _status_by_path(pid: int) -> str:
    """The text of ``/proc/PID/status``: whose it is, the caller confirms afterwards."""
    with translate_errors("read", f"/proc/{pid}/status"):
        fd = os.open(f"/proc/{pid}/status", _READ)
        try:
            return os.read(fd, 1 << 16).decode(errors="replace")
        finally:
            os.close(fd)


def _counts(mapped: int, row: tuple[int, ...], mask: int) -> Counts:
    # Only the categories asked for (a row holds sixteen counts, most of them not exported):
    # this runs for every process of every collection.
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


# -- counting the same processes again and again --------------------------------------------------


@functools.cache
def kept_pagemap_fails_once_gone() -> bool:
    """Whether an open ``/proc/PID/pagemap`` refuses ``PAGEMAP_SCAN`` with ``ESRCH`` once the
    memory it was opened on is gone (the process exited, or ran ``execve``: kernel-notes 22),
    asked of this kernel once, with a child process that exits while its pagemap is open.
    Without it, a kept file could scan a torn-down mm as empty, successfully (kernel-notes 13).
    """
    child = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", "import os; os.read(0, 1)"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        fd = os.open(f"/proc/{child.pid}/pagemap", _READ)
    except OSError:
        child.kill()
        child.wait()
        return False
    try:
        assert child.stdin is not None
        child.stdin.close()  # the child's read returns: it exits
        child.wait()
        try:
            _pagemap.count_scan(fd, 0, probe().user_address_limit, return_mask=1, category_anyof_mask=1)
        except OSError as err:
            return err.errno == errno.ESRCH
        return False
    finally:
        os.close(fd)


@dataclass(eq=False, slots=True)
class _Kept:
    """The open files of one counted process."""

    statm: int  # refers to the task: reads ESRCH or zeros once it has exited, never another's
    pagemap: int  # refers to the memory: ESRCH once the process exited or ran execve
    generation: int = 0

    def close(self) -> None:
        os.close(self.pagemap)
        os.close(self.statm)


class ProcessCounter:
    """Counts processes as :func:`count_process` does, collection after collection, keeping each
    counted process's ``statm`` and ``pagemap`` open for the next one: a kept process costs a
    ``pread`` and the kernel calls, against a pidfd, two opens, two closes and three polls the
    first time. Its numbers are :func:`count_process`'s.

    Why a kept file stays the same process's (kernel-notes 22): ``pagemap`` was opened through
    the pidfd protocol (kernel-notes 14) and refers to that process's memory, not to its pid; the
    kernel refuses it (``ESRCH``) once that memory is gone, when the process exits or runs a new
    program, and pmscan then opens the process afresh (a new program is counted, and authorized,
    anew), or leaves it out (it exited). ``statm`` refers to the task, not to its pid: it reads
    nothing once the task has exited. So a reused pid never reaches a kept file. Every count
    asks ``authorize`` again, with the process's owner as it is now.

    Kept only where the kernel refuses a gone process's pagemap
    (:func:`kept_pagemap_fails_once_gone`), for at most ``keep`` processes (two descriptors
    each); :meth:`forget_others` closes those a collection did not count. Thread-safe: counts run
    in the scan workers, each process in one at a time.
    """

    def __init__(self, *, categories: Category, page_size: int, span_pages: int, keep: int) -> None:
        self.categories = categories
        self.page_size = page_size
        self.span_pages = span_pages
        kernel = probe()
        self._mask = int(categories)
        self._limit = kernel.user_address_limit
        self._direct = kernel.pagemap_scan and not self._mask & ~int(kernel.categories)
        self.keep = keep if self._direct and keep > 0 and kept_pagemap_fails_once_gone() else 0
        self.generation = 0
        self._kept: dict[int, _Kept] = {}
        self._closed = False
        self._lock = threading.Lock()

    @property
    def kept(self) -> int:
        """How many processes' files are open now."""
        return len(self._kept)

    def begin(self) -> None:
        """A new collection starts: what it counts is marked as its own."""
        self.generation += 1

    def count(self, pid: int, *, deadline: float | None, authorize: Authorize | None) -> Counts:
        """The counts of ``pid``, as :func:`count_process` gives them, with the same errors."""
        if not self.keep:
            return count_process(
                pid,
                categories=self.categories,
                page_size=self.page_size,
                span_pages=self.span_pages,
                deadline=deadline,
                authorize=authorize,
            )
        with self._lock:
            kept = self._kept.pop(pid, None)
        if kept is not None:
            try:
                if authorize is not None:
                    self._authorize_kept(pid, kept, authorize)
                counts = self._count_pages(pid, kept, _mapped_pages(pid, kept), deadline)
            except ProcessGone:
                kept.close()  # it exited, or runs a new program: open it afresh below
            except BaseException:
                kept.close()
                raise
            else:
                self._put(pid, kept)
                return counts
        kept, mapped, pidfd = _open_kept(pid, authorize)
        os.close(pidfd)  # from now on the kept files say whether it is still the same process
        try:
            counts = self._count_pages(pid, kept, mapped, deadline)
        except BaseException:
            kept.close()
            raise
        self._put(pid, kept)
        return counts

    def forget_others(self) -> None:
        """Close the files of the processes the current collection did not count (those it
        no longer lists: exited, or no longer in a group or container)."""
        with self._lock:
            stale = [pid for pid, kept in self._kept.items() if kept.generation != self.generation]
            gone = [self._kept.pop(pid) for pid in stale]
        for kept in gone:
            kept.close()

    def close(self) -> None:
        """Close every kept file; a count still running closes its own when it ends."""
        with self._lock:
            self._closed = True
            kept, self._kept = list(self._kept.values()), {}
        for k in kept:
            k.close()

    def _put(self, pid: int, kept: _Kept) -> None:
        kept.generation = self.generation
        with self._lock:
            if not self._closed and len(self._kept) < self.keep:
                self._kept[pid] = kept
                return
        kept.close()

    def _authorize_kept(self, pid: int, kept: _Kept, authorize: Authorize) -> None:
        with translate_errors("read", f"/proc/{pid}/statm"):
            owner = os.fstat(kept.statm).st_uid
        check(authorize, ProcessCredentials(pid, pid, owner, functools.partial(_read_status_kept, pid, kept)))

    def _count_pages(self, pid: int, kept: _Kept, mapped: int, deadline: float | None) -> Counts:
        return _count_pages(pid, kept, mapped, self._mask, self._limit, self.span_pages, deadline)


def _count_pages(  # noqa: PLR0917 (private)
    pid: int, kept: _Kept, mapped: int, mask: int, limit: int, span_pages: int, deadline: float | None
) -> Counts:
    """The counts of the process whose files ``kept`` holds, ``mapped`` pages in all (its
    ``VmSize``): one C loop over the ioctl. Raises ``ProcessGone`` when it exited or runs a new
    program (``ESRCH``)."""
    try:
        walk_end, row = _pagemap.count_scan(
            kept.pagemap,
            0,
            limit,
            return_mask=mask,
            category_anyof_mask=mask,
            max_pages=span_pages,
            vec_len=COUNT_VEC_LEN,
            deadline=deadline or 0.0,
        )
    except OSError as err:
        translated = error_for("scan", err, f"process {pid}")
        if translated is err:
            raise
        raise translated from err
    if walk_end < limit and deadline is not None and time.monotonic() > deadline:
        raise ScanTimeout(f"the scan of process {pid} exceeded its time limit")
    return _counts(mapped, row, mask)


def _mapped_pages(pid: int, kept: _Kept) -> int:
    """``VmSize`` in pages, from the kept ``statm``; ``ProcessGone`` once the task has exited."""
    try:
        statm = os.pread(kept.statm, 256, 0)
        mapped = int(statm.split(maxsplit=1)[0])
    except ProcessLookupError:
        mapped = 0
    except (ValueError, IndexError):
        raise ProcessGone(f"process {pid} exited while its statm was read") from None
    if mapped == 0:
        raise ProcessGone(f"process {pid} has exited")
    return mapped


def _read_status_kept(pid: int, kept: _Kept) -> str:
    """``/proc/PID/status``, read by path: it is the kept process's if that process still has
    its memory afterwards (a reused pid would mean it had exited first)."""
    text = _status_by_path(pid)
    _mapped_pages(pid, kept)
    return text


def _open_kept(pid: int, authorize: Authorize | None) -> tuple[_Kept, int, int]:
    """Open ``statm`` and ``pagemap`` of ``pid`` through the pidfd protocol (kernel-notes 14):
    the pidfd first, then the files by path, then the pidfd says the process has not exited, so
    both files are its own. ``authorize`` is applied before the pagemap is opened. Returns the
    files, the process's ``VmSize`` in pages and the pidfd (the caller closes the files and the
    pidfd). Raises as :func:`count_process` does."""
    operation: Operation = "open"
    statm_fd = pidfd = -1
    try:
        pidfd = _pidfd_open(pid)
        operation = "read"
        statm_fd = os.open(f"/proc/{pid}/statm", _READ)
        owner = os.fstat(statm_fd).st_uid  # /proc/PID's owner, as every file in it
        statm = os.pread(statm_fd, 256, 0)
        if pidfd_exited(pidfd):
            raise ProcessGone(f"process {pid} has exited")
        try:
            mapped = int(statm.split(maxsplit=1)[0])
        except (ValueError, IndexError):
            raise ProcessGone(f"process {pid} exited while its statm was read") from None
        if mapped == 0:
            # A kernel thread (kernel-notes 12), or a process whose memory is torn down.
            raise ProcessNotFound(f"process {pid} has no user memory")
        if authorize is not None:
            check(authorize, ProcessCredentials(pid, pid, owner, functools.partial(_read_status, pid, pidfd)))
        pagemap_fd = os.open(f"/proc/{pid}/pagemap", _READ)
        if pidfd_exited(pidfd):
            os.close(pagemap_fd)
            raise ProcessGone(f"process {pid} has exited")
    except BaseException as exc:
        for fd in (statm_fd, pidfd):
            if fd >= 0:
                os.close(fd)
        if isinstance(exc, OSError):
            translated = error_for(operation, exc, f"process {pid}")
            if translated is not exc:
                raise translated from exc
        raise
    return _Kept(statm_fd, pagemap_fd), mapped, pidfd
