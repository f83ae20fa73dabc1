"""Process discovery from /proc."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NamedTuple

from .cgroups import CgroupSpec, check_exists, contains, read_memberships
from .process import read_stat

__all__ = ["ProcessEntry", "list_processes"]


class ProcessEntry(NamedTuple):
    pid: int
    comm: str
    uid: int
    rss_bytes: int


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _entry(pid: int, page_size: int) -> ProcessEntry | None:
    try:
        stat = read_stat(_read(f"/proc/{pid}/stat"))
        if stat.kernel_thread:
            return None
        uid = os.stat(f"/proc/{pid}").st_uid
        resident = int(_read(f"/proc/{pid}/statm").split()[1])
    except (OSError, ValueError, IndexError):
        return None  # exited while we looked: it is not a process any more
    return ProcessEntry(pid=pid, comm=stat.comm, uid=uid, rss_bytes=resident * page_size)


def _in_cgroup(pid: int, cgroup: CgroupSpec) -> bool:
    try:
        return contains(cgroup, read_memberships(pid))
    except OSError:
        return False  # exited while we looked


def list_processes(
    *, comm: str | None = None, uid: int | None = None, cgroup: CgroupSpec | None = None
) -> Iterator[ProcessEntry]:
    """User processes (kernel threads have no memory to scan), by pid.

    ``comm`` matches exactly; ``uid`` is the owner of ``/proc/PID`` (the real uid... of
    the process's credentials as procfs shows them); ``cgroup`` keeps the processes in
    that cgroup or below it (see :mod:`.cgroups`). ``rss_bytes`` is statm's resident
    pages times the page size. Raises ``CgroupNotFound`` (before yielding anything) for
    a cgroup its mounted hierarchy does not have.
    """
    if cgroup is not None:
        check_exists(cgroup)
    page_size = os.sysconf("SC_PAGE_SIZE")
    pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
    for pid in pids:
        entry = _entry(pid, page_size)
        if entry is None:
            continue
        if comm is not None and entry.comm != comm:
            continue
        if uid is not None and entry.uid != uid:
            continue
        if cgroup is not None and not _in_cgroup(pid, cgroup):
            continue
        yield entry
