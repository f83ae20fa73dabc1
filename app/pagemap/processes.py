"""Process discovery from /proc: the processes of this node, and the containers they are in."""

from __future__ import annotations

import os
from typing import NamedTuple

from .cgroups import (
    CgroupSpec,
    Container,
    ContainerSelector,
    check_exists,
    contains,
    find_container,
    read_memberships,
)
from .exceptions import ContainerNotFound, PodNotFound
from .process import read_stat

__all__ = ["ContainerEntry", "ProcessEntry", "find_workload", "list_containers", "list_processes"]


class ProcessEntry(NamedTuple):
    pid: int
    comm: str
    uid: int
    rss_bytes: int
    #: The container the process is in (None: in none, or its cgroup could not be read).
    container: Container | None = None


class ContainerEntry(NamedTuple):
    """A container that has processes here: its cgroup (as ``/summary``'s ``cgroup`` names it,
    in the hierarchy its processes were recognized in) and its processes, by pid."""

    container: Container
    cgroup: CgroupSpec
    pids: tuple[int, ...]


def _read(path: str) -> str:
    # os.read rather than open(): a text-mode file object costs more than the read itself, for
    # every process of the node on every listing (stat and statm fit in one read).
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 65536).decode(errors="replace")
    finally:
        os.close(fd)


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


def _pids() -> list[int]:
    return sorted(int(name) for name in os.listdir("/proc") if name.isdigit())


def list_processes(
    *,
    comm: str | None = None,
    uid: int | None = None,
    cgroup: CgroupSpec | None = None,
    containers: ContainerSelector | None = None,
) -> list[ProcessEntry]:
    """User processes (kernel threads have no memory to scan), by pid, each with its container.

    ``comm`` matches exactly; ``uid`` is the owner of ``/proc/PID`` (the real uid... of
    the process's credentials as procfs shows them); ``cgroup`` keeps the processes in
    that cgroup or below it (see :mod:`.cgroups`); ``containers`` those of the containers it
    selects. ``rss_bytes`` is statm's resident pages times the page size. ``/proc/PID/cgroup``
    is read once per process. Raises ``CgroupNotFound`` for a cgroup its mounted hierarchy
    does not have, ``AmbiguousContainer`` for a container id prefix of several containers.
    """
    if cgroup is not None:
        check_exists(cgroup)
    page_size = os.sysconf("SC_PAGE_SIZE")
    found = []
    for pid in _pids():
        entry = _entry(pid, page_size)
        if entry is None:
            continue
        if comm is not None and entry.comm != comm:
            continue
        if uid is not None and entry.uid != uid:
            continue
        try:
            memberships = read_memberships(pid)
        except OSError:
            continue  # exited while we looked
        if cgroup is not None and not contains(cgroup, memberships):
            continue
        located = find_container(memberships)
        container = located[0] if located is not None else None
        if (
            containers is not None
            and containers.given
            and (container is None or not containers.matches(container))
        ):
            continue
        found.append(entry._replace(container=container))
    if containers is not None:
        containers.check_unique({e.container.container_id for e in found if e.container is not None})
    return found


def list_containers(selector: ContainerSelector | None = None) -> list[ContainerEntry]:
    """The containers that have processes here (those ``selector`` selects), by pod UID then
    container id. Reads ``/proc/PID/cgroup`` of each process once, and nothing else; raises
    ``AmbiguousContainer`` for a container id prefix of several containers."""
    selector = selector or ContainerSelector()
    found: dict[Container, tuple[CgroupSpec, list[int]]] = {}
    for pid in _pids():
        try:
            located = find_container(read_memberships(pid))
        except OSError:
            continue  # exited while we looked
        if located is None or not selector.matches(located[0]):
            continue
        container, cgroup = located
        found.setdefault(container, (cgroup, []))[1].append(pid)
    selector.check_unique({c.container_id for c in found})
    return [
        ContainerEntry(container, cgroup, tuple(pids))
        for container, (cgroup, pids) in sorted(
            found.items(), key=lambda kv: (kv[0].pod_uid, kv[0].container_id)
        )
    ]


def find_workload(selector: ContainerSelector) -> list[ContainerEntry]:
    """The containers of a workload: the container ``selector.container_id`` names, or every
    container of pod ``selector.pod_uid``, at this moment. Raises ``ContainerNotFound`` or
    ``PodNotFound`` (no process here is in one), ``AmbiguousContainer``."""
    containers = list_containers(selector)
    if not containers:
        if selector.container_id is not None:
            raise ContainerNotFound(
                f"container_id: no process of this node is in a container {selector.container_id}"
            )
        raise PodNotFound(f"pod_uid: no process of this node is in a container of pod {selector.pod_uid}")
    return containers
