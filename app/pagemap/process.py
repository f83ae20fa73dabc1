"""A handle on one target process that cannot silently switch to another one.

PID reuse (kernel-notes 14): a pidfd is opened first (:class:`Pidfd`), then files by path; the
pidfd tells afterwards whether the process is still alive, and if it is, every file opened
in between is its own (kernel-notes 13: a process that exits mid-scan scans as empty,
successfully). :class:`TargetProcess` opens the ``/proc/PID`` directory that way and every
later file relative to it (the directory keeps referring to the same task even if the number
is reused); the exporter's counter opens the two files it keeps that way.
"""

from __future__ import annotations

import errno
import os
import select
from types import TracebackType
from typing import NamedTuple, Self

from . import _pagemap
from .exceptions import Operation, ProcessGone, ProcessNotFound, translate_errors
from .maps import Mapping, parse_maps
from .policy import Authorize, check, credentials_at

__all__ = ["Pidfd", "ProcessStat", "TargetProcess", "pidfd_exited", "read_stat"]

#: ``PF_KTHREAD`` in ``/proc/PID/stat`` field 9: kernel threads have no mm (kernel-notes 12).
PF_KTHREAD = 0x00200000


class ProcessStat(NamedTuple):
    """The fields of ``/proc/PID/stat`` pmscan needs."""

    pid: int
    comm: str
    state: str
    flags: int
    start_stack: int

    @property
    def kernel_thread(self) -> bool:
        return bool(self.flags & PF_KTHREAD)


def read_stat(text: str) -> ProcessStat:
    """Parse ``/proc/PID/stat`` (comm may hold spaces and parentheses)."""
    pid, _, rest = text.partition(" (")
    comm, _, tail = rest.rpartition(") ")
    fields = tail.split()
    return ProcessStat(
        pid=int(pid), comm=comm, state=fields[0], flags=int(fields[6]), start_stack=int(fields[25])
    )


def _read_at(dir_fd: int, name: str) -> bytes:
    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _query_range(maps_fd: int, start_stack: int, limit: int) -> tuple[int, int]:
    lowest = _pagemap.vma_at(maps_fd, 0)
    if lowest is None or lowest[1] > limit:
        return (0, 0)
    # The highest mappings sit at or above the stack ([stack], [vvar], [vdso]): walk up
    # from there rather than from the bottom.
    vma = _pagemap.vma_at(maps_fd, start_stack) if start_stack else None
    if vma is None or vma[1] > limit:
        vma = lowest
    high = lowest[1]
    while vma is not None and vma[1] <= limit:
        high = vma[1]
        vma = _pagemap.vma_at(maps_fd, vma[1])
    return lowest[0], high


def pidfd_exited(pidfd: int) -> bool:
    """Whether the process of ``pidfd`` has exited (a zombie has): its pidfd polls readable."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


def _pidfd_open(pid: int) -> int:
    try:
        return os.pidfd_open(pid)
    except OSError as err:
        # A thread id has a /proc entry but no pidfd of its own.
        if err.errno == errno.ENOENT and os.path.exists(f"/proc/{pid}"):
            raise ProcessNotFound(f"{pid} is a thread, not a process: scan its thread group leader") from err
        raise


class Pidfd:
    """The pidfd of process ``pid``: a file of ``/proc/PID`` opened by path (:meth:`open`) after
    it is that process's own when :meth:`ensure_alive` passes afterwards, even if the pid is
    reused in between. Raises ``ProcessNotFound`` for an unknown pid or a thread id."""

    __slots__ = ("fd", "pid")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.fd = -1
        with translate_errors("open", f"process {pid}"):
            self.fd = _pidfd_open(pid)

    def open(self, name: str, flags: int = os.O_RDONLY, *, operation: Operation = "read") -> int:
        """``/proc/PID/<name>`` (``""``: the directory itself), opened by path with ``O_CLOEXEC``.
        Its errno means what it means for ``operation`` (``read``: a file of a process already
        found, so ``ESRCH`` and ``ENOENT`` say that it exited)."""
        path = f"/proc/{self.pid}/{name}" if name else f"/proc/{self.pid}"
        with translate_errors(operation, f"process {self.pid}"):
            return os.open(path, flags | os.O_CLOEXEC)

    def exited(self) -> bool:
        """Whether the process has exited (a zombie has)."""
        return pidfd_exited(self.fd)

    def ensure_alive(self) -> None:
        """Raise ``ProcessGone`` if the process has exited: then what was opened may not be its."""
        if self.exited():
            raise ProcessGone(f"process {self.pid} has exited")

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class TargetProcess:
    """An open process: pidfd, ``/proc/PID`` directory fd, and (lazily) its pagemap fd.

    Raises ``ProcessNotFound`` for an unknown pid or a kernel thread, ``ProcessGone``
    for a zombie, ``AccessDenied`` when the kernel refuses, and whatever ``authorize``
    raises: it is given the credentials of exactly the process opened (read through the
    held directory, so a reused pid cannot slip past it), before its memory is touched.
    Use as a context manager.
    """

    def __init__(self, pid: int, *, authorize: Authorize | None = None) -> None:
        self.pid = pid
        self._pidfd: Pidfd | None = None
        self._dir_fd = -1
        self._pagemap_fd = -1
        if pid <= 0:
            raise ProcessNotFound(f"no such process: {pid}")
        try:
            self._pidfd = Pidfd(pid)
            self._dir_fd = self._pidfd.open("", os.O_RDONLY | os.O_DIRECTORY, operation="open")
            with translate_errors("read", f"process {pid}"):
                self.stat = read_stat(_read_at(self._dir_fd, "stat").decode(errors="replace"))
            if self.stat.kernel_thread:
                raise ProcessNotFound(f"process {pid} is a kernel thread: it has no user memory")
            if authorize is not None:
                check(authorize, credentials_at(self._dir_fd, pid))
            self.ensure_alive()
        except BaseException:
            self.close()
            raise

    @property
    def comm(self) -> str:
        return self.stat.comm

    def alive(self) -> bool:
        """Whether the process has not exited (a zombie has exited)."""
        return self._pidfd is not None and not self._pidfd.exited()

    def ensure_alive(self) -> None:
        """Raise ``ProcessGone`` if the process has exited since it was opened."""
        if not self.alive():
            raise ProcessGone(f"process {self.pid} has exited")

    @property
    def pagemap_fd(self) -> int:
        """The open ``/proc/PID/pagemap`` (opened on first use, then checked alive)."""
        if self._pagemap_fd < 0:
            # A file of a process already found, like maps: ESRCH means it exited since (410).
            with translate_errors("read", f"/proc/{self.pid}/pagemap"):
                self._pagemap_fd = os.open("pagemap", os.O_RDONLY | os.O_CLOEXEC, dir_fd=self._dir_fd)
            self.ensure_alive()
        return self._pagemap_fd

    def read(self, name: str) -> bytes:
        """The content of ``/proc/PID/<name>``, read relative to the held directory."""
        with translate_errors("read", f"/proc/{self.pid}/{name}"):
            return _read_at(self._dir_fd, name)

    def fds(self) -> dict[int, str]:
        """The process's open file descriptors and what each refers to (``/proc/PID/fd``);
        one closed while they are listed is left out."""
        with translate_errors("read", f"/proc/{self.pid}/fd"):
            fd = os.open("fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self._dir_fd)
            try:
                names = os.listdir(fd)
                links = {}
                for name in names:
                    try:
                        links[int(name)] = os.readlink(name, dir_fd=fd)
                    except FileNotFoundError:
                        continue
                return links
            finally:
                os.close(fd)

    def maps(self) -> list[Mapping]:
        """The process's mappings, as ``/proc/PID/maps`` lists them."""
        return parse_maps(self.read("maps").decode(errors="surrogateescape"))

    def mapped_range(self, limit: int) -> tuple[int, int]:
        """From the lowest mapped address to the highest mapped end at or below ``limit``;
        ``(0, 0)`` without mappings.

        Asks the kernel for just those VMAs (PROCMAP_QUERY, Linux 6.11+): generating and
        parsing all of /proc/PID/maps costs, for a few hundred mappings, more than the scan of
        a small process itself.
        """
        with translate_errors("read", f"/proc/{self.pid}/maps"):
            fd = os.open("maps", os.O_RDONLY | os.O_CLOEXEC, dir_fd=self._dir_fd)
            try:
                return _query_range(fd, self.stat.start_stack, limit)
            except OSError as err:
                if err.errno != errno.ENOTTY:
                    raise
            finally:
                os.close(fd)
        mappings = [m for m in self.maps() if m.end <= limit]
        return (mappings[0].start, mappings[-1].end) if mappings else (0, 0)

    def clear_soft_dirty(self) -> None:
        """Reset the soft-dirty bits of the whole process (``4 > /proc/PID/clear_refs``)."""
        with translate_errors("clear_refs", f"/proc/{self.pid}/clear_refs"):
            fd = os.open("clear_refs", os.O_WRONLY | os.O_CLOEXEC, dir_fd=self._dir_fd)
            try:
                os.write(fd, b"4")
            finally:
                os.close(fd)
        self.ensure_alive()

    def close(self) -> None:
        for name in ("_pagemap_fd", "_dir_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)
        if self._pidfd is not None:
            self._pidfd.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
