"""Counting the same processes collection after collection, with their files kept open."""

from __future__ import annotations

import functools
import os
import threading

from ..pagemap.categories import Category
from ..pagemap.exceptions import ProcessGone, translate_errors
from ..pagemap.policy import Authorize, ProcessCredentials, check
from ..pagemap.probe import kept_pagemap_fails_once_gone, probe
from ..pagemap.summary import Counts
from .count import ProcessFiles, count_files, count_process, open_files, read_statm, read_status

__all__ = ["ProcessChanged", "ProcessCounter"]


class ProcessChanged(Exception):
    """The process whose files were kept under this pid exited, or runs a new program: what
    runs under the pid now was not counted (``reopen=False``), and should be matched again.
    The exporter's own signal, never an answer of the service (so not a ``ServerError``)."""


class ProcessCounter:
    """Counts processes as :func:`~.count.count_process` does, collection after collection,
    keeping each counted process's ``statm`` and ``pagemap`` open for the next one: a kept
    process costs a ``pread`` and the kernel calls, against a pidfd, two opens, two closes and
    three polls the first time. Its numbers are :func:`~.count.count_process`'s.

    Why a kept file stays the same process's (kernel-notes 22): ``pagemap`` was opened through
    the pidfd protocol (kernel-notes 14) and refers to that process's memory, not to its pid; the
    kernel refuses it (``ESRCH``) once that memory is gone, when the process exits or runs a new
    program, and pmscan then opens the process afresh (a new program is counted, and authorized,
    anew), or leaves it out (it exited). ``statm`` refers to the task, not to its pid: it reads
    nothing once the task has exited. So a reused pid never reaches a kept file. Every count
    asks ``authorize`` again, with the process's owner as it is now, unless it is the rule that
    authorized the process when its files were opened and that rule looks at nothing but the
    process's pid (:attr:`~app.pagemap.policy.ProcessRule.by_pid`: pmscan's own pid and the deny
    list, no owner): the kept process keeps its pid, so the answer cannot have changed.

    Kept only where the kernel refuses a gone process's pagemap
    (:func:`~app.pagemap.probe.kept_pagemap_fails_once_gone`), for at most ``keep`` processes
    (two descriptors each); :meth:`forget_others` closes those a collection did not count.
    Thread-safe: counts run in the scan workers, each process in one at a time.

    With ``remember_exe``, the target of a process's ``exe`` link is read when its files are
    opened (the pidfd still open, and polled after: it is that process's) and kept with them
    (:meth:`exe`): it stays that process's program as long as its kept ``pagemap`` works, so a
    collection need not read it again to match the process to a group.
    """

    def __init__(
        self, *, categories: Category, page_size: int, span_pages: int, keep: int, remember_exe: bool = False
    ) -> None:
        self.categories = categories
        self.page_size = page_size
        self.span_pages = span_pages
        kernel = probe()
        self._mask = int(categories)
        self._limit = kernel.user_address_limit
        self._direct = kernel.pagemap_scan and not self._mask & ~int(kernel.categories)
        self.keep = keep if self._direct and keep > 0 and kept_pagemap_fails_once_gone() else 0
        self.remember_exe = remember_exe
        self.generation = 0
        self._kept: dict[int, ProcessFiles] = {}
        self._closed = False
        self._lock = threading.Lock()

    @property
    def kept(self) -> int:
        """How many processes' files are open now."""
        return len(self._kept)

    def begin(self) -> None:
        """A new collection starts: what it counts is marked as its own."""
        self.generation += 1

    def exe(self, pid: int) -> str | None:
        """The ``exe`` of the process whose files are kept under ``pid``, as read when they were
        opened; None when none are kept (or it was not read). Whether that process still runs
        under ``pid`` the next :meth:`count` finds out."""
        with self._lock:
            kept = self._kept.get(pid)
        return kept.exe if kept is not None else None

    def count(
        self, pid: int, *, deadline: float | None, authorize: Authorize | None, reopen: bool = True
    ) -> Counts:
        """The counts of ``pid``, as :func:`~.count.count_process` gives them, with the same
        errors. Without ``reopen``, ``ProcessChanged`` when the process kept under ``pid`` has
        exited or runs a new program, instead of counting what runs under ``pid`` now."""
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
                if authorize is not None and authorize is not kept.authorized:
                    _authorize_kept(kept, authorize)
                counts = self._count(kept, read_statm(kept), deadline)
            except ProcessGone:
                kept.close()  # it exited, or runs a new program: open it afresh below
                if not reopen:
                    raise ProcessChanged(f"process {pid} exited or runs a new program") from None
            except BaseException:
                kept.close()
                raise
            else:
                self._put(kept)
                return counts
        files, statm, pidfd = open_files(pid, authorize)
        try:
            if self.remember_exe:
                files.exe = _read_exe(pid)
                if pidfd.exited():
                    raise ProcessGone(f"process {pid} has exited")
        except BaseException:
            files.close()
            raise
        finally:
            pidfd.close()  # from now on the kept files say whether it is still the same process
        try:
            counts = self._count(files, statm, deadline)
        except BaseException:
            files.close()
            raise
        self._put(files)
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

    def _put(self, files: ProcessFiles) -> None:
        files.generation = self.generation
        with self._lock:
            if not self._closed and len(self._kept) < self.keep:
                self._kept[files.pid] = files
                return
        files.close()

    def _count(self, files: ProcessFiles, statm: tuple[int, int], deadline: float | None) -> Counts:
        return count_files(
            files, statm, self._mask, self._limit, span_pages=self.span_pages, deadline=deadline
        )


def _authorize_kept(kept: ProcessFiles, authorize: Authorize) -> None:
    with translate_errors("read", f"/proc/{kept.pid}/statm"):
        owner = os.fstat(kept.statm).st_uid
    status = functools.partial(_read_status_kept, kept)
    check(authorize, ProcessCredentials(kept.pid, kept.pid, owner, status))


def _read_status_kept(kept: ProcessFiles) -> str:
    """``/proc/PID/status``, read by path: it is the kept process's if that process still has
    its memory afterwards (a reused pid would mean it had exited first)."""
    text = read_status(kept.pid)
    read_statm(kept)
    return text


def _read_exe(pid: int) -> str | None:
    """The target of ``/proc/PID/exe``; None when it cannot be read (the caller confirms whose
    it is)."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None
