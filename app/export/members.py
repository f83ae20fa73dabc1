"""Which processes a collection counts: those of a configured group or, with containers, of a
container, each with its group and its container."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator
from typing import NamedTuple

from ..pagemap.cgroups import Container, container_of
from ..pagemap.process import read_stat
from .groups import ProcessFacts, ProcessGroup, first_group

__all__ = ["Member", "find_members", "iter_members", "match_process"]


class Member(NamedTuple):
    """A process to count: its group (None: in no group) and container (None: in none). (A
    tuple: one is made for every matching process of every collection, and a tuple costs far
    less than a frozen dataclass.)"""

    pid: int
    group: str | None
    container: Container | None
    #: Matched on an ``exe`` remembered from an earlier collection (``known_exe``), not read
    #: now: valid only while the process it was read of still runs the same program, which the
    #: count finds out (:class:`~.counter.ProcessChanged`), and then it is matched again.
    remembered: bool = False


def _unknown(pid: int) -> str | None:
    return None


def find_members(
    groups: tuple[ProcessGroup, ...],
    *,
    containers: bool,
    exclude: Collection[int] = (),
    known_exe: Callable[[int], str | None] = _unknown,
) -> list[Member]:
    """All of :func:`iter_members` at once."""
    return list(iter_members(groups, containers=containers, exclude=exclude, known_exe=known_exe))


def iter_members(
    groups: tuple[ProcessGroup, ...],
    *,
    containers: bool,
    exclude: Collection[int] = (),
    known_exe: Callable[[int], str | None] = _unknown,
) -> Iterator[Member]:
    """The processes that belong to one of ``groups`` or, with ``containers``, to a container;
    by pid. Kernel threads are left out when a group matches on comm (their stat is read then);
    otherwise one may be listed (a cmdline or cgroup pattern that matches it) and
    :func:`~.count.count_process` refuses it. ``exclude`` lists pids left out (pmscan itself,
    the deny list). A process that exits while it is looked at is left out.

    ``known_exe(pid)``: the ``exe`` of the process under ``pid`` as an earlier collection read
    it, or None to read it now; such a member is ``remembered``. (Only ``exe``: a process changes
    its comm, its cmdline and its cgroup whenever it likes, but its program only by ``execve``.)"""
    # /proc/PID/stat (comm, and whether it is a kernel thread) costs a read per process of the
    # node on every collection: only a comm matcher needs it. Without, a kernel thread matches
    # no exe (it has none) and is refused by count_process (it has no user memory) otherwise.
    listed = _user_processes() if _needs_comm(groups) else _every_process()
    for pid, comm in listed:
        if pid in exclude:
            continue
        member = _match(pid, comm, groups, containers=containers, exe=known_exe(pid))
        if member is not None:
            yield member


def match_process(pid: int, groups: tuple[ProcessGroup, ...], *, containers: bool) -> Member | None:
    """The member ``pid`` is now, every fact read afresh; None when it is in no group and no
    container (or is no user process any more)."""
    if _needs_comm(groups):
        comm = _comm(pid)
        if comm is None:
            return None
    else:
        comm = ""
    return _match(pid, comm, groups, containers=containers, exe=None)


def _match(
    pid: int, comm: str, groups: tuple[ProcessGroup, ...], *, containers: bool, exe: str | None
) -> Member | None:
    facts = ProcessFacts(pid, comm, known_exe=exe)
    group = first_group(facts, groups)
    container = None
    if containers:
        memberships = facts.memberships
        container = container_of(memberships) if memberships is not None else None
    if group is None and container is None:
        return None
    return Member(pid, group.name if group else None, container, exe is not None)


def _needs_comm(groups: tuple[ProcessGroup, ...]) -> bool:
    return any(g.key == "comm" for g in groups)


def _pids() -> list[int]:
    return sorted(int(name) for name in os.listdir("/proc") if name.isdigit())


def _every_process() -> Iterator[tuple[int, str]]:
    """``(pid, "")`` of each process, kernel threads included, by pid: no comm read."""
    for pid in _pids():
        yield pid, ""


def _user_processes() -> Iterator[tuple[int, str]]:
    """``(pid, comm)`` of each process but kernel threads, by pid: ``/proc/PID/stat`` alone (a
    collection lists every process each time: what ``list_processes`` reads more is not needed)."""
    for pid in _pids():
        comm = _comm(pid)
        if comm is not None:
            yield pid, comm


def _comm(pid: int) -> str | None:
    """The comm of ``pid`` from its stat; None for a kernel thread or a process gone."""
    try:
        # os.read: a text-mode open() costs several times as much, for every process each time.
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
        try:
            stat = read_stat(os.read(fd, 4096).decode(errors="replace"))
        finally:
            os.close(fd)
    except (OSError, ValueError, IndexError):
        return None  # exited while we looked
    return None if stat.kernel_thread else stat.comm
