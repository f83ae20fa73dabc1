"""The cgroup namespace pmscan runs in: the paths of ``/proc/PID/cgroup`` as the host names them.

The kernel writes each path of ``/proc/PID/cgroup`` relative to the root of the *reader's*
cgroup namespace. In the host's (initial) namespace that root is the hierarchy's, and a path is
the host's. In a private one (a container's, or ``unshare --cgroup``), the root is the cgroup
the namespace was made in: pmscan's own cgroup reads ``/``, a sibling container ``/../<id>``,
and another pod ``/../../../kubepods-besteffort.slice/...``. The host's path is then the
namespace root's host path joined with the relative one; a container, a pod and a ``cgroup``
given to the API are recognized on it, so answers are the same inside a container as on the
host.

No ``/proc/PID/cgroup`` names the namespace root's own ancestors, and a hierarchy mounted
inside the namespace (a container's ``/sys/fs/cgroup``) shows only what is below it. A mount
made outside the namespace shows more: its ``root`` field climbs (``/../../..``: the hierarchy's
root, three levels above the namespace's) and below its mount point the whole host tree is
visible; the namespace root is the directory that many levels down in which pmscan's own
cgroup holds pmscan (read once: a namespace's root never changes). Such a mount is in
``/proc/self/mountinfo`` when the namespace was made without a mount namespace
(``unshare --cgroup``); a container in the host's PID namespace (pmscan's DaemonSet) reaches the
host's own mounts through a process of the host's cgroup namespace: its
``/proc/PID/mountinfo``, under its ``/proc/PID/root`` (PID 1 when it may be read; ptrace-read
access, which pmscan needs anyway).

When no such mount is visible for a hierarchy, its paths stay relative (``/../x``): a
Kubernetes container is still recognized from the systemd driver's names, which spell out
their ancestors, but a ``cgroup`` of the host matches none of them (:meth:`CgroupNamespace.describe`
says so).
"""

from __future__ import annotations

import errno
import functools
import os
import posixpath
import threading
from pathlib import Path

from ..exceptions import CgroupNotFound
from ..process import read_stat
from .mounts import CgroupMount, cgroup_mounts, climbs, is_hierarchy_root
from .spec import CgroupSpec

__all__ = ["CgroupNamespace", "cgroup_directory", "check_exists", "namespace", "read_memberships"]

#: The inode of the initial cgroup namespace's ``/proc/PID/ns/cgroup`` (the kernel's
#: ``PROC_CGROUP_INIT_INO``, a constant of include/linux/proc_ns.h).
INITIAL_CGROUP_NAMESPACE = 0xEFFFFFFB
_PROC = Path("/proc")
#: ``task_struct.flags``: the task is exiting (include/linux/sched.h).
PF_EXITING = 0x00000004


def _parse(text: str) -> list[tuple[str, str]]:
    """``(controllers, path)`` of each line ``N:controllers:path``."""
    memberships = []
    for line in text.splitlines():
        _, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        memberships.append((controllers, path))
    return memberships


def _read(path: str) -> str:
    # os.read rather than open(): the exporter and /containers read this for every process.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode(errors="surrogateescape")


class CgroupNamespace:
    """The cgroup namespace of this process: ``initial`` (the host's) or private, and then where
    its root is on the host, per hierarchy, found on first use."""

    def __init__(self) -> None:
        try:
            self.initial = os.stat(_PROC / "self/ns/cgroup").st_ino == INITIAL_CGROUP_NAMESPACE
        except OSError:
            self.initial = True  # no cgroup namespaces in this kernel: paths are the host's
        self._lock = threading.Lock()
        self._own: list[tuple[str, str]] | None = None
        self._roots: dict[str, str | None] = {}
        self._host: int | None = None

    def host_path(self, controllers: str, path: str) -> str:
        """``path`` of a ``/proc/PID/cgroup`` line (or a mount's ``root``) of the hierarchy of
        ``controllers`` as the host names it; unchanged when its namespace root is unknown."""
        if self.initial:
            return path
        root = self.root(controllers)
        if root is None:
            return path
        return posixpath.normpath(root.rstrip("/") + "/" + path.lstrip("/"))

    def resolve(self, memberships: list[tuple[str, str]], pid: int) -> list[tuple[str, str]]:
        """Each ``(controllers, path)`` of process ``pid`` with its path as the host names it."""
        if self.initial:
            return memberships
        resolved = []
        exiting: bool | None = None
        for controllers, path in memberships:
            if controllers and path == "/" and self.root(controllers) not in (None, "/"):
                # A v1 hierarchy shows an exiting task at "/" whatever the reader's namespace:
                # the host's root then (as the host reads it), not this namespace's.
                if exiting is None:
                    exiting = _exiting(pid)
                if exiting:
                    resolved.append((controllers, "/"))
                    continue
            resolved.append((controllers, self.host_path(controllers, path)))
        return resolved

    def root(self, controllers: str) -> str | None:
        """The host path of this namespace's root in the hierarchy of ``controllers`` (``""``:
        the unified one; a v1 controller may be one of a hierarchy's several), or None when no
        mount visible here shows it."""
        if self.initial:
            return "/"
        with self._lock:
            key = self._key(controllers)
            if key is None:
                return None
            if key not in self._roots:
                self._roots[key] = self._find_root(key)
            return self._roots[key]

    def describe(self) -> dict[str, str | None]:
        """Each hierarchy this process is in (``""``: the unified one) and the host path of the
        namespace's root there (None: not found); empty in the initial namespace."""
        if self.initial:
            return {}
        return {controllers: self.root(controllers) for controllers, _ in self._own_lines()}

    def mounts(self) -> list[CgroupMount]:
        """The cgroup mounts visible from here: this process's, then, in a private namespace,
        those of a process of the host's cgroup namespace, through its ``/proc/PID/root``."""
        mounts = cgroup_mounts(_PROC / "self/mountinfo")
        if self.initial:
            return mounts
        for _ in range(2):  # the process found may have exited since: then find another
            host = self._host_process()
            if host is None:
                break
            try:
                return mounts + cgroup_mounts(_PROC / f"{host}/mountinfo", under=str(_PROC / f"{host}/root"))
            except OSError:
                self._host = None
        return mounts

    def _host_process(self) -> int | None:
        """A process of the host's cgroup namespace whose root this process may enter: PID 1
        when it may, else the first other one (kept until it is gone)."""
        if self._host is not None:
            return self._host
        others = sorted(int(name) for name in os.listdir(_PROC) if name.isdigit() and name != "1")
        for pid in (1, *others):
            try:
                if os.stat(_PROC / f"{pid}/ns/cgroup").st_ino != INITIAL_CGROUP_NAMESPACE:
                    continue
                os.stat(_PROC / f"{pid}/root/")  # the ptrace-read check of entering it
            except OSError:
                continue  # exited, or not ours to read
            self._host = pid
            return pid
        return None

    def _own_lines(self) -> list[tuple[str, str]]:
        if self._own is None:
            self._own = _parse(_read(str(_PROC / "self/cgroup")))
        return self._own

    def _key(self, controllers: str) -> str | None:
        """The controllers of this process's own line for that hierarchy (``cpu`` is in
        ``cpu,cpuacct``), or None when it is in no such hierarchy."""
        wanted = set(controllers.split(",")) if controllers else set()
        for own, _ in self._own_lines():
            if (not wanted and not own) or (wanted and wanted <= set(own.split(","))):
                return own
        return None

    def _find_root(self, key: str) -> str | None:
        own = dict(self._own_lines())[key]
        if ".." in own.split("/"):
            return None  # moved above its namespace's root since: its ancestors are unknown
        for mount in self.mounts():
            depth = climbs(mount.root)
            if depth is None or not mount.shows(key) or not is_hierarchy_root(mount.directory, key):
                continue
            found = _holding(mount.directory, depth, own.strip("/"), os.getpid())
            if found is not None:
                return found
        return None


def _holding(top: Path, depth: int, own: str, pid: int) -> str | None:
    """The path from ``top`` of the directory ``depth`` levels below it whose ``own``
    descendant holds ``pid``, or None."""
    level = [top]
    for _ in range(depth):
        below = []
        for directory in level:
            try:
                with os.scandir(directory) as entries:
                    below += [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
            except OSError:
                continue  # removed meanwhile
        level = below
    for directory in level:
        try:
            members = (directory / own / "cgroup.procs").read_text().split()
        except OSError:
            continue
        if str(pid) in members:
            relative = directory.relative_to(top).as_posix()
            return "/" if relative == "." else "/" + relative
    return None


@functools.cache
def namespace() -> CgroupNamespace:
    """This process's cgroup namespace (which never changes for a process)."""
    return CgroupNamespace()


def read_memberships(pid: int) -> list[tuple[str, str]]:
    """``(controllers, path)`` of each line of ``/proc/PID/cgroup``, each path as the host names
    it (raises ``OSError``)."""
    return namespace().resolve(_parse(_read(f"/proc/{pid}/cgroup")), pid)


def _exiting(pid: int) -> bool:
    """Whether ``pid`` is exiting (or gone: it is no member of anything then)."""
    try:
        return bool(read_stat(_read(f"/proc/{pid}/stat")).flags & PF_EXITING)
    except (OSError, ValueError, IndexError):
        return True


def cgroup_directory(spec: CgroupSpec, mountinfo: Path | None = None) -> Path | None:
    """The directory of ``spec`` (its path the host's) in a mount of its hierarchy visible
    from here (those of ``mountinfo`` alone, when given), or None when no such mount shows that
    part of the hierarchy (then nothing can be said about its existence)."""
    ns = namespace()
    mounts = cgroup_mounts(mountinfo) if mountinfo is not None else ns.mounts()
    for mount in mounts:
        if not mount.shows(spec.controller):
            continue
        root = ns.host_path(spec.controller, mount.root)
        if ".." in root.split("/"):
            continue  # a root this namespace cannot place on the host
        root = root.rstrip("/")
        if spec.path != root and not spec.path.startswith(root + "/"):
            continue
        return Path(str(mount.directory) + spec.path[len(root) :])
    return None


def check_exists(spec: CgroupSpec) -> None:
    """Raise ``CgroupNotFound`` when ``spec``'s hierarchy is mounted here and lacks it."""
    directory = cgroup_directory(spec)
    if directory is None:
        return
    try:
        exists = directory.is_dir()
    except OSError as err:
        if err.errno != errno.ENAMETOOLONG:
            raise
        exists = False  # longer than PATH_MAX once under the mount point: it names no cgroup
    if not exists:
        raise CgroupNotFound(f"no such cgroup: {spec} (looked in {directory})")
