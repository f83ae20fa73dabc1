"""The cgroup hierarchies mounted here, from a ``mountinfo`` file.

A mount shows the part of a hierarchy below its ``root`` field, which the kernel writes
relative to the reading process's cgroup namespace: ``/`` for a mount of the namespace's own
root, ``/../..`` for a mount of the cgroup two levels above it (a mount made outside the
namespace: the host's, seen from a container). Whether a mount shows the real root of its
hierarchy is told by the files only the root cgroup has (:func:`is_hierarchy_root`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

__all__ = ["CgroupMount", "cgroup_mounts", "climbs", "is_hierarchy_root"]


class CgroupMount(NamedTuple):
    """A mount of a cgroup hierarchy: ``root`` as ``mountinfo`` gives it; ``directory``, where
    it is reachable from here; ``controllers``: ``None`` for the unified (v2) hierarchy, else
    the mount's options (a v1 hierarchy's controllers and ``name=NAME`` are among them)."""

    root: str
    directory: Path
    controllers: frozenset[str] | None

    def shows(self, controller: str) -> bool:
        """Whether this is a mount of the hierarchy of ``controller`` (``""``: the unified one;
        else a v1 controller, several comma-separated, or ``name=NAME``)."""
        if not controller:
            return self.controllers is None
        return self.controllers is not None and set(controller.split(",")) <= self.controllers


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as ``\\ooo``."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def cgroup_mounts(mountinfo: Path, *, under: str = "") -> list[CgroupMount]:
    """The cgroup mounts ``mountinfo`` lists, in its order; ``under`` goes before each mount
    point (``/proc/1/root`` for another process's mounts). Raises ``OSError``."""
    mounts = []
    for line in mountinfo.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
        fields = line.split()
        try:
            separator = fields.index("-")
        except ValueError:
            continue
        fstype = fields[separator + 1]
        if fstype not in ("cgroup", "cgroup2"):
            continue
        options = frozenset(fields[separator + 3].split(",")) if fstype == "cgroup" else None
        directory = Path(under + _unescape(fields[4])) if under else Path(_unescape(fields[4]))
        mounts.append(CgroupMount(_unescape(fields[3]), directory, options))
    return mounts


def climbs(root: str) -> int | None:
    """How many levels ``root`` climbs above the namespace's root (``/../..``: 2; ``/``: 0), or
    None when it goes down somewhere (it is then no ancestor of the namespace's root)."""
    parts = [p for p in root.split("/") if p]
    return len(parts) if all(p == ".." for p in parts) else None


def is_hierarchy_root(directory: Path, controller: str) -> bool:
    """Whether ``directory`` is the root cgroup of its hierarchy: v1's root alone has
    ``release_agent``; v2's root alone lacks ``cgroup.type``."""
    try:
        if controller:
            return (directory / "release_agent").exists()
        return (directory / "cgroup.procs").exists() and not (directory / "cgroup.type").exists()
    except OSError:
        return False
