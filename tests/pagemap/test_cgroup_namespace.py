"""The cgroup namespace in the domain: ``/proc/PID/cgroup`` read in a private cgroup namespace
(tests/support/cgroupns.py), placed on the host, against the same file read on the host; and
the mountinfo fields it is placed from."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.pagemap.cgroups import CgroupSpec, namespace, read_memberships
from app.pagemap.cgroups.mounts import cgroup_mounts, climbs, is_hierarchy_root
from tests.support.cgroupns import VIEWS, namespace_prefix, own_cgroup
from tests.support.cgroups import CgroupUnavailableError, TemporaryCgroup
from tests.support.children import sleepers
from tests.support.kubepods import KubePod

REPO = Path(__file__).resolve().parents[2]

#: Run in the namespace: what the domain reads there of the given pids, of a live child of its
#: own and of that child once it is a zombie.
_INSIDE = """
import json, subprocess, sys, time
from app.pagemap.cgroups import namespace, read_memberships
ns = namespace()
child = subprocess.Popen(["sleep", "1000"])
live = read_memberships(child.pid)
child.kill()
while open(f"/proc/{child.pid}/stat").read().rpartition(") ")[2][0] != "Z":
    time.sleep(0.01)
exited = read_memberships(child.pid)
child.wait()
print(json.dumps({
    "initial": ns.initial,
    "roots": ns.describe(),
    "pids": {pid: read_memberships(int(pid)) for pid in sys.argv[1:]},
    "live": live,
    "exited": exited,
}))
"""


def inside(places: list[tuple[TemporaryCgroup, str]], view: str, pids: list[int]) -> dict[str, Any]:
    command = [*namespace_prefix(places, view), sys.executable, "-c", _INSIDE, *map(str, pids)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


@pytest.fixture
def pids() -> Iterator[list[int]]:
    """A process in a container of each driver's pod."""
    try:
        pods = [KubePod("systemd", 1), KubePod("cgroupfs", 1)]
    except CgroupUnavailableError as e:
        pytest.skip(str(e))
    with pods[0], pods[1], sleepers(2) as children:
        for pod, child in zip(pods, children, strict=True):
            pod.add(child.pid, 0)
        yield [child.pid for child in children]


@pytest.mark.parametrize("view", VIEWS)
def test_paths_are_the_hosts(view: str, pids: list[int]) -> None:
    try:
        with own_cgroup() as places:
            answer = inside(places, view, pids)
            own = {cgroup.controller: str(CgroupSpec("", cgroup.spec(path))) for cgroup, path in places}
    except CgroupUnavailableError as e:
        pytest.skip(str(e))
    assert answer["initial"] is False
    assert (answer["roots"][""], answer["roots"]["memory"]) == (
        own[""],
        own["memory"].removeprefix("memory:"),
    )
    assert answer["roots"]["cpu"] == "/"  # not moved in that hierarchy: rooted at its root
    on_host = {str(pid): [list(line) for line in read_memberships(pid)] for pid in pids}
    assert answer["pids"] == on_host
    live = dict(map(tuple, answer["live"]))
    assert (live[""], live["memory"]) == (own[""], own["memory"].removeprefix("memory:"))
    # An exiting task reads "/" in a v1 hierarchy whatever the namespace: the host's root, not
    # the namespace's (where the host reads it too).
    assert dict(map(tuple, answer["exited"]))["memory"] == "/"


class TestMountinfo:
    def test_roots_climb_or_not(self) -> None:
        assert [climbs(root) for root in ("/", "/..", "/../../..", "/../x", "/x")] == [0, 1, 3, None, None]

    def test_this_machines_hierarchies(self) -> None:
        mounts = cgroup_mounts(Path("/proc/self/mountinfo"))
        assert namespace().initial
        for mount in mounts:
            controller = "" if mount.controllers is None else sorted(mount.controllers - {"rw", "ro"})[-1]
            assert mount.shows(controller)
            # Here, in the host's namespace, every mount shows its hierarchy's root.
            assert mount.root != "/" or is_hierarchy_root(mount.directory, controller)

    def test_a_cgroup_below_the_root_is_no_root(self) -> None:
        try:
            with TemporaryCgroup() as v2, TemporaryCgroup("memory") as v1:
                assert not is_hierarchy_root(v2.directory(), "")
                assert not is_hierarchy_root(v1.directory(), "memory")
                assert is_hierarchy_root(v2.root, "") and is_hierarchy_root(v1.root, "memory")
        except CgroupUnavailableError as e:
            pytest.skip(str(e))
