"""Which processes a collection counts: those of a configured group or, with containers, of a
container, each with its group and its container."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from typing import NamedTuple

from ..pagemap.cgroups import Container, container_of
from ..pagemap.process import read_stat
from .groups import ProcessFacts, ProcessGroup, first_group

__all__ = ["Member", "find_members", "iter_members"]


class Member(NamedTuple):
    """A process to count: its group (None: in no group) and container (None: in none). (A
    tuple: one is made for every matching process of every collection, and a tuple costs far
    less than a frozen dataclass.)"""

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
    :func:`~.count.count_process` refuses it. ``exclude`` lists pids left out (pmscan itself,
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
            # os.read: a text-mode open() costs several times as much, for every process each time.
            fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
            try:
                stat = read_stat(os.read(fd, 4096).decode(errors="replace"))
            finally:
                os.close(fd)
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
        if not stat.kernel_thread:
            yield pid, stat.comm
