"""A cgroup as the API names it: ``/PATH`` (or ``::/PATH``) in the unified (v2) hierarchy,
``CONTROLLER:/PATH`` in a v1 hierarchy (``memory:/x``, ``cpu,cpuacct:/x``, ``name=systemd:/x``),
the path absolute from the hierarchy's root on the host. A process belongs to a cgroup when it
is in it or in one of its descendants.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["CgroupSpec", "contains", "parse_cgroup"]

_CONTROLLER = re.compile(r"^(name=[\w.-]+|[a-z_][a-z0-9_]*(,[a-z_][a-z0-9_]*)*)$")


class CgroupSpec(NamedTuple):
    """A cgroup: ``controller`` is ``""`` for the unified hierarchy, else the v1
    controller(s) (comma-separated) or ``name=NAME``; ``path`` is absolute and
    normalized (``/`` is the root)."""

    controller: str
    path: str

    def __str__(self) -> str:
        return f"{self.controller}:{self.path}" if self.controller else self.path

    def matches(self, controllers: str, path: str) -> bool:
        """Whether a ``/proc/PID/cgroup`` line ``N:controllers:path`` (its path as the host
        names it: :mod:`.namespace`) is this cgroup or below it."""
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


def contains(spec: CgroupSpec, memberships: Iterable[tuple[str, str]]) -> bool:
    """Whether one of a process's ``(controllers, path)`` lines is in ``spec`` or below it."""
    return any(spec.matches(controllers, path) for controllers, path in memberships)
