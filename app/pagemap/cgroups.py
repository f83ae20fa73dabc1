"""Control groups: which processes a cgroup holds, as ``/proc/PID/cgroup`` tells.

A cgroup is named as ``/proc/PID/cgroup`` names it, without the hierarchy number:
``/PATH`` (or ``::/PATH``) in the unified (v2) hierarchy, ``CONTROLLER:/PATH`` in a v1
hierarchy (``memory:/x``, ``cpu,cpuacct:/x``, ``name=systemd:/x``). A process belongs
to a cgroup when it is in it or in one of its descendants. Membership is read from
``/proc/PID/cgroup``, so it needs no mount; whether a cgroup exists at all is checked
in its mounted hierarchy when one is mounted here (``/proc/self/mountinfo``).
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import NamedTuple

from .exceptions import CgroupNotFound

__all__ = ["CgroupSpec", "cgroup_directory", "check_exists", "contains", "parse_cgroup", "read_memberships"]

_CONTROLLER = re.compile(r"^(name=[\w.-]+|[a-z_][a-z0-9_]*(,[a-z_][a-z0-9_]*)*)$")
_MOUNTINFO = Path("/proc/self/mountinfo")


class CgroupSpec(NamedTuple):
    """A cgroup: ``controller`` is ``""`` for the unified hierarchy, else the v1
    controller(s) (comma-separated) or ``name=NAME``; ``path`` is absolute and
    normalized (``/`` is the root)."""

    controller: str
    path: str

    def __str__(self) -> str:
        return f"{self.controller}:{self.path}" if self.controller else self.path

    def matches(self, controllers: str, path: str) -> bool:
        """Whether a ``/proc/PID/cgroup`` line ``N:controllers:path`` is this cgroup or below it."""
        if self.controller:
            if not set(self.controller.split(",")) <= set(controllers.split(",")):
                return False
        elif controllers:
            return False
        return self.path in ("/", path) or path.startswith(self.path + "/")


def parse_cgroup(text: str) -> CgroupSpec:
    """``/PATH``, ``::/PATH`` or ``CONTROLLER:/PATH``; raises ``ValueError`` saying why not.

    A v2 path that contains ``:`` needs its leading ``/`` (``a:b`` names controller ``a``).
    """
    text = text.strip()
    if not text:
        raise ValueError("a cgroup is /PATH (v2) or CONTROLLER:/PATH (v1)")
    controller, path = "", text
    head, colon, tail = text.partition(":")
    if colon and "/" not in head:
        if head and not _CONTROLLER.match(head):
            raise ValueError(f"not a cgroup controller: {head!r}")
        controller, path = head, tail
        if not controller:
            path = path.removeprefix(":")  # "::/PATH", as the v2 line of /proc/PID/cgroup
    if "\0" in path:
        raise ValueError("a cgroup path cannot contain NUL")
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ValueError("a cgroup path cannot contain '.' or '..'")
    return CgroupSpec(controller, "/" + "/".join(parts))


def read_memberships(pid: int) -> list[tuple[str, str]]:
    """``(controllers, path)`` of each line of ``/proc/PID/cgroup`` (raises ``OSError``)."""
    # os.read rather than open(): the exporter reads this for every process at each collection.
    fd = os.open(f"/proc/{pid}/cgroup", os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    lines = b"".join(chunks).decode(errors="surrogateescape").splitlines()
    memberships = []
    for line in lines:
        _, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        memberships.append((controllers, path))
    return memberships


def contains(spec: CgroupSpec, memberships: list[tuple[str, str]]) -> bool:
    return any(spec.matches(controllers, path) for controllers, path in memberships)


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as ``\\ooo``."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def cgroup_directory(spec: CgroupSpec, mountinfo: Path = _MOUNTINFO) -> Path | None:
    """The directory of ``spec`` in a mount of its hierarchy, or None when no mount here
    shows that part of the hierarchy (then nothing can be said about its existence)."""
    wanted = set(spec.controller.split(",")) if spec.controller else set()
    for line in mountinfo.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
        fields = line.split()
        try:
            separator = fields.index("-")
        except ValueError:
            continue
        root, mount_point = _unescape(fields[3]), _unescape(fields[4])
        fstype, super_options = fields[separator + 1], fields[separator + 3].split(",")
        if spec.controller:
            if fstype != "cgroup" or not wanted <= set(super_options):
                continue
        elif fstype != "cgroup2":
            continue
        root = root.rstrip("/")
        if spec.path != root and not spec.path.startswith(root + "/"):
            continue
        return Path(mount_point + spec.path[len(root) :])
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
