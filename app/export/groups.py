"""Process groups: named sets of processes, matched by comm, exe, cmdline or cgroup.

The model is process-exporter's (``config/config.go``): each group has one matcher, and a
process belongs to the first group, in the configuration's order, whose matcher it satisfies.
Regexes must match the whole value (``re.fullmatch``):

- ``comm``: ``/proc/PID/comm`` (at most 15 bytes, as the kernel truncates it);
- ``exe``: the target of the ``/proc/PID/exe`` link (`` (deleted)`` and all);
- ``cmdline``: the arguments of ``/proc/PID/cmdline`` joined by single spaces;
- ``cgroup``: a cgroup in the syntax of :mod:`app.pagemap.cgroups` (the host's path, also when pmscan
  runs in a container); the process is in it or below it.

A value that cannot be read (the process exited, or the kernel keeps its ``exe`` from this
user) matches nothing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from typing import Any, cast

from ..pagemap.cgroups import CgroupSpec, parse_cgroup, read_memberships

__all__ = ["MATCHERS", "ProcessFacts", "ProcessGroup", "first_group", "parse_groups"]

#: The keys a group's matcher may have.
MATCHERS = ("comm", "exe", "cmdline", "cgroup")
#: Group names become label values: bounded, printable, and short enough to read on a graph.
_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


@dataclass(frozen=True)
class ProcessGroup:
    """One configured group: ``name``, the matcher's ``key`` (one of :data:`MATCHERS`) and its
    ``pattern`` as written; ``regex`` or ``cgroup`` is the compiled form."""

    name: str
    key: str
    pattern: str
    regex: re.Pattern[str] | None = None
    cgroup: CgroupSpec | None = None

    def matches(self, facts: ProcessFacts) -> bool:
        if self.cgroup is not None:
            memberships = facts.memberships
            return memberships is not None and any(self.cgroup.matches(c, p) for c, p in memberships)
        value = facts.value(self.key)
        assert self.regex is not None
        return value is not None and self.regex.fullmatch(value) is not None


def parse_groups(config: str | MappingABC[str, Any]) -> tuple[ProcessGroup, ...]:
    """The groups of a configuration: a JSON object (text, or already decoded) of group name to
    a one-key matcher object. Raises ``ValueError`` naming the group and what is wrong with it;
    a name given twice in the text is refused (JSON would keep only the last)."""
    if isinstance(config, str):
        try:
            decoded = json.loads(config or "{}", object_pairs_hook=_refuse_duplicates)
        except json.JSONDecodeError as err:
            raise ValueError(f"not JSON: {err}") from None
    else:
        decoded = config
    if not isinstance(decoded, MappingABC):
        raise ValueError('a JSON object of group name to matcher, e.g. {"web": {"comm": "nginx"}}')
    return tuple(_parse_group(name, matcher) for name, matcher in decoded.items())


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"group {key!r} is given twice")
        result[key] = value
    return result


def _parse_group(name: object, matcher: object) -> ProcessGroup:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"group {name!r}: a name is 1 to 128 printable characters")
    if not isinstance(matcher, MappingABC) or len(matcher) != 1:
        raise ValueError(f"group {name!r}: the matcher is an object with one key of {', '.join(MATCHERS)}")
    ((key, pattern),) = matcher.items()
    if key not in MATCHERS:
        raise ValueError(f"group {name!r}: unknown matcher key {key!r}; known: {', '.join(MATCHERS)}")
    if not isinstance(pattern, str):
        raise ValueError(f"group {name!r}: the {key} matcher is a string")
    if key == "cgroup":
        try:
            return ProcessGroup(name, key, pattern, cgroup=parse_cgroup(pattern))
        except ValueError as err:
            raise ValueError(f"group {name!r}: cgroup {pattern!r}: {err}") from None
    try:
        return ProcessGroup(name, key, pattern, regex=re.compile(pattern))
    except re.error as err:
        raise ValueError(f"group {name!r}: invalid {key} regex {pattern!r}: {err}") from None


#: A fact not read yet (None is one that cannot be read).
_UNREAD = object()


class ProcessFacts:
    """What the matchers look at for one process, each read from ``/proc/PID`` on first use
    (most configurations need only ``comm``, which the process list already has); ``known_exe``,
    when given, is its ``exe`` (read earlier, see :func:`~.members.iter_members`). (A plain
    class with slots: one is made for every process of the node on every collection.)"""

    __slots__ = ("_memberships", "_values", "comm", "pid")

    def __init__(self, pid: int, comm: str, known_exe: str | None = None) -> None:
        self.pid = pid
        self.comm = comm
        self._values: dict[str, str | None] = {"comm": comm}
        if known_exe is not None:
            self._values["exe"] = known_exe
        self._memberships: list[tuple[str, str]] | bool | None = False  # False: not read yet

    def value(self, key: str) -> str | None:
        value = self._values.get(key, _UNREAD)
        if value is _UNREAD:
            value = self._values[key] = self._read(key)
        return cast("str | None", value)

    @property
    def memberships(self) -> list[tuple[str, str]] | None:
        """The lines of ``/proc/PID/cgroup``; None when they cannot be read."""
        if self._memberships is False:
            try:
                self._memberships = read_memberships(self.pid)
            except OSError:
                self._memberships = None
        assert self._memberships is not True
        return self._memberships

    def _read(self, key: str) -> str | None:
        try:
            if key == "exe":
                return os.readlink(f"/proc/{self.pid}/exe")
            with open(f"/proc/{self.pid}/cmdline", "rb") as f:
                raw = f.read()
        except OSError:
            return None  # exited, a kernel thread, or not ours to read
        return raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")


def first_group(facts: ProcessFacts, groups: tuple[ProcessGroup, ...]) -> ProcessGroup | None:
    """The first of ``groups`` that the process matches, or None."""
    for group in groups:
        if group.matches(facts):
            return group
    return None
