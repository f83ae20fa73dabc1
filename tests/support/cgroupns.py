"""A process in a private cgroup namespace, as pmscan is in a container (root).

:func:`own_cgroup` makes a cgroup of its own in the unified hierarchy and in v1's memory
hierarchy (those this machine mounts writable); :func:`namespace_prefix` is the command prefix
that moves the command into given cgroups (those, or a container's of a pod of
tests/support/kubepods.py) and runs it in a new cgroup namespace, rooted at those cgroups:
every other process's ``/proc/PID/cgroup`` then reads relative to them (``0::/../..``).

Two views of the hierarchies, as pmscan meets them:

- ``"unshare"``: the mounts stay the host's (``unshare --cgroup`` alone), whose ``mountinfo``
  root fields now climb (``/../..``);
- ``"container"``: a new mount namespace too, where both hierarchies are mounted anew inside the
  cgroup namespace, as a container runtime does: they show only the namespace's subtree, and
  the host's tree is reachable only through another process's ``/proc/PID/root``.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterator

from tests.support.cgroups import TemporaryCgroup

__all__ = ["HIERARCHIES", "VIEWS", "namespace_prefix", "own_cgroup"]

#: The hierarchies the namespace is rooted in a cgroup of its own of: the unified one, v1 memory.
HIERARCHIES = ("", "memory")
VIEWS = ("unshare", "container")


#: Where a process goes: a temporary cgroup and a path below it.
Place = tuple[TemporaryCgroup, str]


@contextlib.contextmanager
def own_cgroup(name: str = "pmscan") -> Iterator[list[Place]]:
    """A cgroup ``NAME/name`` of its own in each of :data:`HIERARCHIES` (raises
    ``CgroupUnavailableError`` when one is not mounted writable)."""
    with contextlib.ExitStack() as stack:
        cgroups = [stack.enter_context(TemporaryCgroup(controller)) for controller in HIERARCHIES]
        for cgroup in cgroups:
            cgroup.make(name)
        yield [(cgroup, name) for cgroup in cgroups]


def namespace_prefix(places: list[Place], view: str) -> list[str]:
    """The prefix of a command that runs it in ``places`` (one per hierarchy) and a new cgroup
    namespace rooted there, with the hierarchies seen as ``view`` says (:data:`VIEWS`). The
    command keeps its pid (``exec`` all the way): a signal to it reaches it."""
    move = " && ".join(
        f"echo $$ > {shlex.quote(str(cgroup.directory(path) / 'cgroup.procs'))}" for cgroup, path in places
    )
    if view == "unshare":
        return ["sh", "-c", f'{move} && exec unshare --cgroup "$@"', "sh"]
    remount = []
    for cgroup, _ in places:
        point = shlex.quote(str(cgroup.root))
        kind = f"-t cgroup -o {cgroup.controller}" if cgroup.controller else "-t cgroup2"
        remount.append(f"umount -l {point} && mount {kind} none {point}")
    inner = " && ".join([*remount, 'exec "$@"'])
    return [
        "sh",
        "-c",
        f'{move} && exec unshare --cgroup --mount --propagation private sh -c {shlex.quote(inner)} sh "$@"',
        "sh",
    ]
