"""The counts of one process for the exporter: per category, the numbers ``POST /summary`` gives
for it (the pages of its whole user address range having that category), and its mapped size
(its ``VmSize``).

They come from one C loop over the kernel's ioctl (:func:`app.pagemap._pagemap.count_scan`)
that asks only for pages having one of the exported categories, on a ``pagemap`` and a
``statm`` opened through the pidfd protocol (:class:`~app.pagemap.process.Pidfd`,
kernel-notes 14): :class:`ProcessFiles`, which :class:`~.counter.ProcessCounter` keeps open
from one collection to the next. Each kernel call reports at most ``span_pages`` pages, so that
no hold of the target's mmap lock is long however large the process (kernel-notes 17).
"""

from __future__ import annotations

import functools
import mmap
import os
import time
from dataclasses import dataclass

from ..pagemap import _pagemap
from ..pagemap.categories import Category
from ..pagemap.exceptions import ProcessGone, ProcessNotFound, ScanTimeout, translate_errors
from ..pagemap.policy import Authorize, ProcessCredentials, by_pid, check
from ..pagemap.probe import probe
from ..pagemap.process import Pidfd
from ..pagemap.session import ScanOptions, open_scan
from ..pagemap.summary import Counts, summarize

__all__ = [
    "COUNT_VEC_LEN",
    "DEFAULT_SPAN_BYTES",
    "ProcessFiles",
    "count_files",
    "count_process",
    "open_files",
    "read_statm",
]

#: The pages (in bytes) of the exported categories one kernel call reports, at most, for the
#: exporter: dense anonymous memory of this size holds the mmap lock well under a millisecond
#: (kernel-notes 17).
DEFAULT_SPAN_BYTES = 64 << 20
#: Records of ``count_scan``'s buffer: fewer kernel calls, each with its own fixed cost (the
#: system call, the target's mmap lock taken again), for a process of scattered pages (a large
#: reservation sparsely written).
COUNT_VEC_LEN = 4096
#: A count whose walk may cover this much (resident, or reported by the last count) runs its kernel
#: calls real-time where the thread may (``count_scan``'s ``realtime``): one call over 32 MiB of
#: written pages holds the target's mmap lock about 0.1 ms (12-13 ns a page on this project's VMs,
#: docs/performance.md). Below it the switch (three system calls a kernel call) costs more than the
#: walk it protects, whose hold is as short as the switch itself.
REALTIME_WALK_BYTES = 32 << 20
_REALTIME_WALK_PAGES = REALTIME_WALK_BYTES // mmap.PAGESIZE


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
    worker). Raises the errors of :class:`~app.pagemap.process.TargetProcess` and of a scan
    (``ProcessGone`` when it exits meanwhile, ``ScanTimeout`` past ``deadline``).

    The kernel reports only the pages having one of ``categories`` (``category_anyof_mask``)
    and looks up none it need not (kernel-notes 18: only what ``return_mask`` holds), and the
    whole count is one C loop over the ioctl (:func:`count_files`): no record, no Python object
    per call. Each call reports at most ``span_pages`` pages (0: no bound), which bounds its hold
    of the target's mmap lock (kernel-notes 17). The pages having none of the categories are
    not reported, so the mapped size comes from ``/proc/PID/statm`` instead. Without the ioctl
    (or for a category it cannot report) the same count goes through
    :func:`~app.pagemap.session.open_scan` and its backend.
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
    files, statm, pidfd = open_files(pid, authorize)
    try:
        counts = count_files(
            files,
            statm,
            int(categories),
            kernel.user_address_limit,
            span_pages=span_pages,
            deadline=deadline,
        )
        # A process that exits meanwhile scans as empty, successfully (kernel-notes 13).
        if pidfd.exited():
            raise ProcessGone(f"process {pid} exited during the scan")
    finally:
        pidfd.close()
        files.close()
    return counts


@dataclass(eq=False, slots=True)
class ProcessFiles:
    """The two open files of one counted process."""

    pid: int
    statm: int  # refers to the task: reads ESRCH or zeros once it has exited, never another's
    pagemap: int  # refers to the memory: ESRCH once the process exited or ran execve
    generation: int = 0
    #: The pages the last count reported (-1: not counted yet): with the resident pages, how long
    #: the next count's walk may be.
    reported: int = -1
    #: The rule that authorized the process when the files were opened, if its answer depends on
    #: nothing that can change while they are kept (:attr:`~app.pagemap.policy.ProcessRule.by_pid`).
    authorized: Authorize | None = None
    #: The target of its ``exe`` link while the files were opened (None: not read): its
    #: program as long as ``pagemap`` works (kernel-notes 22).
    exe: str | None = None

    def close(self) -> None:
        os.close(self.pagemap)
        os.close(self.statm)


def open_files(pid: int, authorize: Authorize | None) -> tuple[ProcessFiles, tuple[int, int], Pidfd]:
    """Open ``statm`` and ``pagemap`` of ``pid`` through its pidfd (kernel-notes 14), which
    afterwards says that the process has not exited, so both files are its own. ``authorize`` is
    applied before the pagemap is opened. Returns the files, the process's ``VmSize`` and
    resident size in pages and the pidfd (the caller closes the files and the pidfd). Raises as
    :func:`count_process` does.

    Fewer system calls than :class:`~app.pagemap.process.TargetProcess`, which also holds
    ``/proc/PID`` open and reads its stat: that costs as much again as counting a small
    process, and a collection counts hundreds of processes each time.
    """
    pidfd = Pidfd(pid)
    statm_fd = -1
    try:
        statm_fd = pidfd.open("statm")
        with translate_errors("read", f"process {pid}"):
            owner = os.fstat(statm_fd).st_uid  # /proc/PID's owner, as every file in it
            text = os.pread(statm_fd, 256, 0)
        if pidfd.exited():
            raise ProcessGone(f"process {pid} has exited")
        statm = _statm(pid, text)
        if statm[0] == 0:
            # A kernel thread (kernel-notes 12), or a process whose memory is torn down.
            raise ProcessNotFound(f"process {pid} has no user memory")
        if authorize is not None:
            check(authorize, ProcessCredentials(pid, pid, owner, functools.partial(_read_status, pidfd)))
        pagemap = pidfd.open("pagemap")
        if pidfd.exited():
            os.close(pagemap)
            raise ProcessGone(f"process {pid} has exited")
    except BaseException:
        if statm_fd >= 0:
            os.close(statm_fd)
        pidfd.close()
        raise
    files = ProcessFiles(pid, statm_fd, pagemap)
    if authorize is not None and by_pid(authorize):
        files.authorized = authorize
    return files, statm, pidfd


def count_files(
    files: ProcessFiles,
    statm: tuple[int, int],
    mask: int,
    limit: int,
    *,
    span_pages: int,
    deadline: float | None,
) -> Counts:
    """The counts of the process whose files ``files`` holds, ``statm`` its ``VmSize`` and
    resident size in pages: one C loop over the ioctl, for the categories of ``mask`` below
    ``limit``. Raises ``ProcessGone`` when it exited or runs a new program (``ESRCH``).

    The kernel calls run real-time (where the thread may) only when the walk may be long: the
    process's resident pages or the pages its last count reported (its swapped ones among them,
    which ``statm`` does not hold) reach :data:`REALTIME_WALK_BYTES`, or it was not counted yet."""
    mapped, resident = statm
    reported = files.reported
    with translate_errors("scan", f"process {files.pid}"):
        walk_end, row = _pagemap.count_scan(
            files.pagemap,
            0,
            limit,
            return_mask=mask,
            category_anyof_mask=mask,
            max_pages=span_pages,
            vec_len=COUNT_VEC_LEN,
            deadline=deadline or 0.0,
            realtime=reported < 0 or max(resident, reported) >= _REALTIME_WALK_PAGES,
        )
    files.reported = row[0] if walk_end >= limit else -1  # cut short: how long a walk is, unknown
    if walk_end < limit and deadline is not None and time.monotonic() > deadline:
        raise ScanTimeout(f"the scan of process {files.pid} exceeded its time limit")
    # Only the categories asked for (a row holds sixteen counts, most of them not exported):
    # this runs for every process of every collection.
    return Counts(pages=mapped, by_category={c: row[i] for i, c in _places(mask) if row[i]})


def read_statm(files: ProcessFiles) -> tuple[int, int]:
    """``VmSize`` and the resident size in pages, from the open ``statm``; ``ProcessGone`` once
    the task has exited."""
    try:
        statm = _statm(files.pid, os.pread(files.statm, 256, 0))
    except ProcessLookupError:
        statm = (0, 0)
    if statm[0] == 0:
        raise ProcessGone(f"process {files.pid} has exited")
    return statm


def read_status(pid: int) -> str:
    """The text of ``/proc/PID/status``, read by path: whose it is, the caller confirms
    afterwards."""
    with translate_errors("read", f"/proc/{pid}/status"):
        fd = os.open(f"/proc/{pid}/status", os.O_RDONLY | os.O_CLOEXEC)
        try:
            return os.read(fd, 1 << 16).decode(errors="replace")
        finally:
            os.close(fd)


def _read_status(pidfd: Pidfd) -> str:
    """``/proc/PID/status``, read by path: it is the process's if it is still alive after."""
    text = read_status(pidfd.pid)
    if pidfd.exited():
        raise ProcessGone(f"process {pidfd.pid} exited while its status was read")
    return text


def _statm(pid: int, statm: bytes) -> tuple[int, int]:
    """``VmSize`` and the resident size, the first two numbers of ``statm``."""
    try:
        size, resident = statm.split(maxsplit=2)[:2]
        return int(size), int(resident)
    except ValueError:
        raise ProcessGone(f"process {pid} exited while its statm was read") from None


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
    """The same count through :func:`~app.pagemap.session.open_scan` (the pagemap emulation on
    a kernel without the ioctl; it raises ``Unsupported`` for a category the backend cannot
    report)."""
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
