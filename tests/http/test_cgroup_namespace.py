"""pmscan inside a container: a server in a private cgroup namespace of its own (where every
other process's ``/proc/PID/cgroup`` reads relative to the server's cgroup, ``0::/../..``) gives
the answers the server on the host gives, for the same pods at the same moment: the containers,
the processes' containers, cgroup and workload summaries, and the exported groups and
containers. Both views of the hierarchies a container meets (tests/support/cgroupns.py): the
host's mounts inherited, and mounts of its own that show only its namespace's subtree."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cgroupns import HIERARCHIES, VIEWS, Place, namespace_prefix
from tests.support.cgroups import CgroupUnavailableError, TemporaryCgroup
from tests.support.children import sleepers
from tests.support.kubepods import KubePod
from tests.support.server import ServerProcess


@dataclass
class Pods:
    """One node's kubepods trees, in the unified hierarchy (systemd driver) and in v1's memory
    hierarchy (cgroupfs driver): a Burstable pod of two containers, a Guaranteed CRI-O pod,
    a Burstable pod of one container in v1, each container with a sleeper; and pmscan's own
    BestEffort pod in each tree, where the server in a namespace runs, as in a DaemonSet.

    Seen from pmscan's container, the other pods' paths climb out to the tree's top: the names
    of pmscan's own ancestors (``kubepods.slice``, ``kubepods/``) are in none of them."""

    systemd: KubePod
    cgroupfs: KubePod
    guaranteed: KubePod
    pmscan: list[KubePod]
    pids: list[int]

    @property
    def all(self) -> list[KubePod]:
        return [self.systemd, self.cgroupfs, self.guaranteed]

    def places(self) -> list[Place]:
        """pmscan's container, in each tree."""
        return [(pod.cgroup, pod.container_path(pod.container_ids[0])) for pod in self.pmscan]


@pytest.fixture(scope="module")
def pods() -> Iterator[Pods]:
    try:
        with contextlib.ExitStack() as stack:
            v2, v1 = (stack.enter_context(TemporaryCgroup(controller)) for controller in HIERARCHIES)
            systemd = stack.enter_context(KubePod("systemd", 2, within=v2))
            guaranteed = stack.enter_context(
                KubePod("systemd", 1, qos="guaranteed", runtime="cri-o", within=v2)
            )
            cgroupfs = stack.enter_context(KubePod("cgroupfs", 1, within=v1))
            pmscan = [
                stack.enter_context(KubePod(driver, 1, qos="besteffort", within=tree))
                for driver, tree in (("systemd", v2), ("cgroupfs", v1))
            ]
            children = stack.enter_context(sleepers(4))
            targets = [(systemd, 0), (systemd, 1), (cgroupfs, 0), (guaranteed, 0)]
            for child, (pod, index) in zip(children, targets, strict=True):
                pod.add(child.pid, index)
            yield Pods(systemd, cgroupfs, guaranteed, pmscan, [c.pid for c in children])
    except CgroupUnavailableError as e:
        pytest.skip(str(e))


def settings(pods: Pods) -> dict[str, Any]:
    """The same exporter settings for every server: a group by each driver's pod cgroup, and
    the per-container series."""
    groups = {
        "systemd-pod": {"cgroup": pods.systemd.cgroup.spec(pods.systemd.pod_path)},
        "cgroupfs-pod": {"cgroup": pods.cgroupfs.cgroup.spec(pods.cgroupfs.pod_path)},
    }
    return {
        "auth": "off",
        "export_groups": json.dumps(groups),
        "export_containers": "true",
        "export_max_age_seconds": 0,
    }


@pytest.fixture(scope="module")
def host(pods: Pods) -> Iterator[ServerProcess]:
    with ServerProcess(**settings(pods)) as running:
        yield running


@pytest.fixture(scope="module", params=VIEWS)
def inside(request: pytest.FixtureRequest, pods: Pods) -> Iterator[ServerProcess]:
    """The server in its pod's container, in a cgroup namespace rooted there."""
    prefix = namespace_prefix(pods.places(), request.param)
    with ServerProcess(prefix=prefix, **settings(pods)) as running:
        yield running


@pytest.fixture
def clients(host: ServerProcess, inside: ServerProcess) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    with host.client() as on_host, inside.client() as in_namespace:
        yield on_host, in_namespace


def get(http: httpx.Client, path: str, **params: Any) -> Any:
    response = http.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def post(http: httpx.Client, path: str, **body: Any) -> Any:
    response = http.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def in_namespace_of(server: ServerProcess, *command: str) -> str:
    """``command``'s output, run in the server's cgroup and mount namespaces."""
    namespaces = [f"--cgroup=/proc/{server.pid}/ns/cgroup", f"--mount=/proc/{server.pid}/ns/mnt"]
    return subprocess.run(
        ["nsenter", *namespaces, *command], capture_output=True, text=True, check=True
    ).stdout


class TestThePremise:
    def test_the_server_sees_other_paths_relative_to_its_own(self, inside: ServerProcess, pods: Pods) -> None:
        assert os.stat(f"/proc/{inside.pid}/ns/cgroup").st_ino != os.stat("/proc/self/ns/cgroup").st_ino
        assert "0::/\n" in in_namespace_of(inside, "cat", f"/proc/{inside.pid}/cgroup")
        seen = in_namespace_of(inside, "cat", f"/proc/{pods.pids[0]}/cgroup")
        (v2,) = [line for line in seen.splitlines() if line.startswith("0::")]
        # Up from pmscan's container, its pod and its QoS level to kubepods.slice, whose name is
        # in no path the server sees.
        suffix = pods.systemd.container_path(pods.systemd.container_ids[0]).removeprefix("kubepods.slice/")
        assert v2 == f"0::/../../../{suffix}"
        seen = in_namespace_of(inside, "cat", f"/proc/{pods.pids[2]}/cgroup")
        (memory,) = [line for line in seen.splitlines() if ":memory:" in line]
        suffix = pods.cgroupfs.container_path(pods.cgroupfs.container_ids[0]).removeprefix("kubepods/")
        assert memory.split(":", 2)[2] == f"/../../../{suffix}"

    def test_it_places_every_hierarchy(self, inside: ServerProcess) -> None:
        """A hierarchy whose host tree no mount shows is a warning in the server's log."""
        assert "private cgroup namespace" not in inside.log()

    def test_the_mounts_it_sees(self, inside: ServerProcess) -> None:
        roots = {
            fields[4]: fields[3]
            for fields in (
                line.split() for line in in_namespace_of(inside, "cat", "/proc/self/mountinfo").splitlines()
            )
            if "cgroup" in fields[fields.index("-") + 1]
        }
        climbing = {point for point, root in roots.items() if root.startswith("/..")}
        # Either the host's mounts, whose roots climb out of the namespace, or mounts of its own.
        assert climbing in ({"/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory"}, set())


class TestSameAnswers:
    def test_its_own_container(
        self, clients: tuple[httpx.Client, httpx.Client], pods: Pods, inside: ServerProcess
    ) -> None:
        """The server is recognized in its unified hierarchy's container (a process is in one
        container: the unified hierarchy's line comes first)."""
        on_host, in_namespace = (get(http, "/containers", pod_uid=pods.pmscan[0].uid) for http in clients)
        assert in_namespace == on_host
        assert [c["pids"] for c in on_host] == [[inside.pid]]

    def test_containers(self, clients: tuple[httpx.Client, httpx.Client], pods: Pods) -> None:
        on_host, in_namespace = clients
        for pod in pods.all:
            expected = get(on_host, "/containers", pod_uid=pod.uid)
            assert len(expected) == len(pod.container_ids)
            assert get(in_namespace, "/containers", pod_uid=pod.uid) == expected
        mine = {p.uid for p in pods.all}  # pmscan's own have its short-lived children
        listed = [c for c in get(in_namespace, "/containers") if c["pod_uid"] in mine]
        assert listed == [c for c in get(on_host, "/containers") if c["pod_uid"] in mine]

    def test_processes(self, clients: tuple[httpx.Client, httpx.Client], pods: Pods) -> None:
        on_host, in_namespace = clients
        for pod in pods.all:
            assert get(in_namespace, "/processes", pod_uid=pod.uid) == get(
                on_host, "/processes", pod_uid=pod.uid
            )
        ours = {p["pid"]: p for p in get(in_namespace, "/processes") if p["pid"] in pods.pids}
        theirs = {p["pid"]: p for p in get(on_host, "/processes") if p["pid"] in pods.pids}
        assert ours == theirs and len(ours) == len(pods.pids)

    def test_cgroup_summaries(self, clients: tuple[httpx.Client, httpx.Client], pods: Pods) -> None:
        on_host, in_namespace = clients
        specs = [
            pods.systemd.spec(0),
            pods.systemd.cgroup.spec(pods.systemd.pod_path),
            pods.cgroupfs.spec(0),
            pods.systemd.cgroup.spec("kubepods.slice/kubepods-burstable.slice"),  # a QoS level
            pods.guaranteed.cgroup.spec(pods.guaranteed.pod_path),
        ]
        for spec in specs:
            expected = post(on_host, "/summary", cgroup=spec)
            assert expected["processes"]
            found = post(in_namespace, "/summary", cgroup=spec)
            assert found["cgroup"] == expected["cgroup"] == spec
            assert [p["pid"] for p in found["processes"]] == [p["pid"] for p in expected["processes"]]
            assert get(in_namespace, "/processes", cgroup=spec) == get(on_host, "/processes", cgroup=spec)

    def test_an_unknown_cgroup(self, clients: tuple[httpx.Client, httpx.Client], pods: Pods) -> None:
        for http in clients:
            for spec in (pods.systemd.cgroup.spec("no-such"), pods.cgroupfs.cgroup.spec("no-such")):
                response = http.post("/summary", json={"cgroup": spec})
                assert (response.status_code, response.json()["detail"]["code"]) == (404, "ENOENT"), spec

    def test_workload_summaries(self, clients: tuple[httpx.Client, httpx.Client], pods: Pods) -> None:
        on_host, in_namespace = clients
        for body in (
            {"pod_uid": pods.systemd.uid},
            {"pod_uid": pods.cgroupfs.uid},
            {"container_id": pods.guaranteed.container_ids[0][:12]},
        ):
            expected, found = post(on_host, "/summary", **body), post(in_namespace, "/summary", **body)
            assert found["containers"] == expected["containers"]
            assert [p["pid"] for p in found["processes"]] == [p["pid"] for p in expected["processes"]]

    def test_the_exported_groups_and_containers(
        self, clients: tuple[httpx.Client, httpx.Client], pods: Pods
    ) -> None:
        on_host, in_namespace = clients
        mine = {pod.uid for pod in pods.all}

        def series(http: httpx.Client) -> dict[tuple[str, ...], float]:
            found = {}
            for family in text_string_to_metric_families(http.get("/metrics").text):
                for sample in family.samples:
                    if sample.name == "pmscan_group_processes" or (
                        sample.name == "pmscan_container_processes" and sample.labels["pod_uid"] in mine
                    ):
                        found[(sample.name, *sorted(sample.labels.values()))] = sample.value
            return found

        expected = series(on_host)
        assert expected[("pmscan_group_processes", "systemd-pod")] == 2
        assert expected[("pmscan_group_processes", "cgroupfs-pod")] == 1
        assert sum(v for k, v in expected.items() if k[0] == "pmscan_container_processes") == 4
        assert series(in_namespace) == expected
