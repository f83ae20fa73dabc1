"""GET /containers, and the containers of GET /processes, against the cgroup trees the kubelet's
drivers, containerd, CRI-O, Docker and Podman make, built for real (tests/support/kubepods.py),
with real processes in them: each answer is checked against what the test put where, and
against the kernel's own ``cgroup.procs`` of each container's cgroup."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cgroups import CgroupUnavailableError, TemporaryCgroup
from tests.support.children import sleepers
from tests.support.kubepods import KubePod, container_id


@dataclass
class Expected:
    """A container the test made: what GET /containers must say of it, and its cgroup directory."""

    container_id: str
    runtime: str
    pod_uid: str
    qos: str
    cgroup: str
    pids: list[int] = field(default_factory=list)
    procs: Path = Path()  # its cgroup directory: cgroup.procs there is the kernel's list

    def item(self) -> dict[str, Any]:
        return {
            "container_id": self.container_id,
            "runtime": self.runtime,
            "pod_uid": self.pod_uid,
            "qos": self.qos,
            "cgroup": self.cgroup,
            "pids": sorted(self.pids),
        }


@dataclass
class Node:
    """Pods and containers of every shape, each with a sleeper (two in the first container of
    the multi-container pod, one more in a child cgroup of it), and CRI-O's monitor."""

    pods: dict[str, KubePod]
    containers: dict[str, Expected]
    monitor: int
    outside: int
    children: list[subprocess.Popen[bytes]]

    def of_pod(self, name: str) -> list[Expected]:
        uid = self.pods[name].uid
        return sorted((c for c in self.containers.values() if c.pod_uid == uid), key=lambda c: c.container_id)


#: name -> (driver, QoS class, runtime, containers)
PODS = {
    "containerd": ("systemd", "burstable", "containerd", 2),
    "crio": ("systemd", "besteffort", "cri-o", 1),
    "guaranteed": ("systemd", "guaranteed", "docker", 1),
    "cgroupfs": ("cgroupfs", "burstable", None, 2),
    "cgroupfs-guaranteed": ("cgroupfs", "guaranteed", None, 1),
}


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    try:
        with contextlib.ExitStack() as stack:
            yield _build(stack)
    except CgroupUnavailableError as e:
        pytest.skip(str(e))


def _build(stack: contextlib.ExitStack) -> Node:
    pods: dict[str, KubePod] = {}
    containers: dict[str, Expected] = {}
    for name, (driver, qos, runtime, count) in PODS.items():
        pod = pods[name] = stack.enter_context(KubePod(driver, count, qos=qos, runtime=runtime))
        for index, cid in enumerate(pod.container_ids):
            containers[cid] = Expected(
                cid,
                pod.runtime,
                pod.uid,
                qos,
                pod.spec(index),
                procs=pod.cgroup.directory(pod.container_path(cid)),
            )
    # Without Kubernetes: Docker's cgroupfs tree and a Podman scope, in the unified hierarchy.
    plain = stack.enter_context(TemporaryCgroup())
    for path, runtime in (("docker/{}", "docker"), ("machine.slice/libpod-{}.scope", "podman")):
        cid = container_id()
        parts = path.format(cid).split("/")
        for depth in range(1, len(parts) + 1):
            plain.make("/".join(parts[:depth]))
        containers[cid] = Expected(
            cid, runtime, "", "", plain.spec(path.format(cid)), procs=plain.directory(path.format(cid))
        )
    children = stack.enter_context(sleepers(len(containers) + 4))
    spare = iter(children)
    for expected in containers.values():
        process = next(spare)
        (expected.procs / "cgroup.procs").write_text(f"{process.pid}\n")
        expected.pids.append(process.pid)
    # A second process in a container, and one in a child cgroup of it (systemd in a container).
    first = pods["containerd"]
    second, nested = next(spare), next(spare)
    first.add(second.pid, 0)
    first.add(nested.pid, 0, child="init.scope")
    containers[first.container_ids[0]].pids += [second.pid, nested.pid]
    monitor = next(spare)
    pods["crio"].add_monitor(monitor.pid, 0)
    outside = next(spare)
    return Node(pods, containers, monitor.pid, outside.pid, children)


def containers(http: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = http.get("/containers", params=params)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


def error_of(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    (error,) = response.json()["detail"]
    result: dict[str, Any] = error
    return result


class TestEveryShape:
    @pytest.mark.parametrize("name", sorted(PODS))
    def test_a_pod_as_the_test_made_it(self, http: httpx.Client, node: Node, name: str) -> None:
        found = containers(http, pod_uid=node.pods[name].uid)
        assert found == [c.item() for c in node.of_pod(name)]

    def test_the_pids_are_the_kernels(self, http: httpx.Client, node: Node) -> None:
        """Each container's processes are those of its cgroup and its descendants, as the
        kernel lists them in cgroup.procs."""
        for expected in node.containers.values():
            (item,) = containers(http, container_id=expected.container_id)
            kernel = set()
            for directory, _, _ in os.walk(expected.procs):
                kernel |= {int(p) for p in (Path(directory) / "cgroup.procs").read_text().split()}
            assert set(item["pids"]) == kernel == set(expected.pids)

    @pytest.mark.parametrize("runtime", ["docker", "podman"])
    def test_outside_kubernetes(self, http: httpx.Client, node: Node, runtime: str) -> None:
        (expected,) = [c for c in node.containers.values() if c.runtime == runtime and not c.pod_uid]
        assert containers(http, container_id=expected.container_id) == [expected.item()]

    def test_the_runtimes_monitor_is_no_container(self, http: httpx.Client, node: Node) -> None:
        listed = {pid for item in containers(http) for pid in item["pids"]}
        assert node.monitor not in listed and node.outside not in listed
        assert all(pid in listed for c in node.containers.values() for pid in c.pids)

    def test_sorted_by_pod_then_container(self, http: httpx.Client, node: Node) -> None:
        found = containers(http)
        assert found == sorted(found, key=lambda c: (c["pod_uid"], c["container_id"]))

    def test_the_cgroup_is_one_summary_takes(self, http: httpx.Client, node: Node) -> None:
        for name in ("containerd", "cgroupfs"):
            expected = node.of_pod(name)[0]
            response = http.post("/summary", json={"cgroup": expected.cgroup})
            assert response.status_code == 200, response.text
            assert [p["pid"] for p in response.json()["processes"]] == sorted(expected.pids)


class TestFilters:
    def test_container_id_prefix(self, http: httpx.Client, node: Node) -> None:
        expected = node.of_pod("crio")[0]
        for digits in (12, 13, 63, 64):
            assert containers(http, container_id=expected.container_id[:digits]) == [expected.item()]

    def test_runtime(self, http: httpx.Client, node: Node) -> None:
        for runtime in ("containerd", "cri-o", "docker", "podman"):
            found = containers(http, runtime=runtime)
            assert {c["runtime"] for c in found} == {runtime}
            mine = {c.container_id for c in node.containers.values() if c.runtime == runtime}
            assert mine <= {c["container_id"] for c in found}

    def test_together(self, http: httpx.Client, node: Node) -> None:
        pod = node.pods["containerd"]
        assert containers(http, pod_uid=pod.uid, runtime="cri-o") == []
        assert len(containers(http, pod_uid=pod.uid, runtime="containerd")) == 2
        found = containers(http, pod_uid=pod.uid, container_id=pod.container_ids[1][:12])
        assert [c["container_id"] for c in found] == [pod.container_ids[1]]

    def test_nothing_matches(self, http: httpx.Client) -> None:
        assert containers(http, pod_uid=str(uuid.uuid4())) == []
        assert containers(http, container_id=container_id()) == []

    def test_an_ambiguous_prefix(self, http: httpx.Client) -> None:
        prefix = uuid.uuid4().hex[:12]
        ids = [prefix + "0" + container_id()[:51], prefix + "1" + container_id()[:51]]
        try:
            pod = KubePod("systemd", container_ids=ids)
        except CgroupUnavailableError as e:
            pytest.skip(str(e))
        with pod, sleepers(2) as children:
            for index, child in enumerate(children):
                pod.add(child.pid, index)
            response = http.get("/containers", params={"container_id": prefix})
            assert response.status_code == 422, response.text
            detail = response.json()["detail"]
            assert detail["code"] == "AMBIGUOUS_ID"
            assert detail["message"].startswith(f"container_id: the prefix {prefix} matches 2 containers")
            response = http.get("/processes", params={"container_id": prefix})
            assert response.json()["detail"]["code"] == "AMBIGUOUS_ID"
            assert [c["container_id"] for c in containers(http, container_id=ids[1][:13])] == [ids[1]]


class TestProcesses:
    def test_each_process_says_its_container(self, http: httpx.Client, node: Node) -> None:
        response = http.get("/processes")
        assert response.status_code == 200
        by_pid = {p["pid"]: p for p in response.json()}
        for expected in node.containers.values():
            for pid in expected.pids:
                assert (by_pid[pid]["container_id"], by_pid[pid]["pod_uid"]) == (
                    expected.container_id,
                    expected.pod_uid,
                )
        for pid in (node.monitor, node.outside, os.getpid()):
            assert (by_pid[pid]["container_id"], by_pid[pid]["pod_uid"]) == (None, None)

    def test_the_same_filters(self, http: httpx.Client, node: Node) -> None:
        pod = node.pods["containerd"]
        response = http.get("/processes", params={"pod_uid": pod.uid})
        assert sorted(p["pid"] for p in response.json()) == sorted(
            pid for c in node.of_pod("containerd") for pid in c.pids
        )
        first = node.containers[pod.container_ids[0]]
        response = http.get("/processes", params={"container_id": first.container_id[:12]})
        assert [p["pid"] for p in response.json()] == sorted(first.pids)
        response = http.get("/processes", params={"pod_uid": str(uuid.uuid4())})
        assert response.json() == []


class TestStrictParameters:
    @pytest.mark.parametrize(
        ("params", "name"),
        [
            ({"container_id": "4f2d9c0b7a1"}, "container_id"),  # 11 digits
            ({"container_id": "4F2D9C0B7A1E"}, "container_id"),
            ({"container_id": "4f2d9c0b7a1g"}, "container_id"),
            ({"container_id": "0" * 65}, "container_id"),
            ({"pod_uid": "not-a-uid"}, "pod_uid"),
            ({"pod_uid": "8e6c0f0a_3b1f_4b5e_9a44_2c1e9b0f6d11"}, "pod_uid"),
            ({"runtime": "rkt"}, "runtime"),
            ({"pod": "8e6c0f0a-3b1f-4b5e-9a44-2c1e9b0f6d11"}, "pod"),
        ],
    )
    @pytest.mark.parametrize("path", ["/containers", "/processes"])  # /processes has no runtime
    def test_named(self, http: httpx.Client, path: str, params: dict[str, str], name: str) -> None:
        assert error_of(http.get(path, params=params))["loc"] == ["query", name]

    def test_an_unknown_parameter_anywhere(self, http: httpx.Client) -> None:
        """Unknown query parameters were silently ignored: /processes?pod_uid= listed every
        process on a server that did not know the filter."""
        error = error_of(http.get("/capabilities", params={"verbose": "1"}))
        assert (error["type"], error["loc"]) == ("extra_forbidden", ["query", "verbose"])
        assert error_of(http.post("/summary?pod_uid=x", json={"pid": os.getpid()}))["loc"] == [
            "query",
            "pod_uid",
        ]

    def test_repeated(self, http: httpx.Client) -> None:
        uid = str(uuid.uuid4())
        response = http.get(f"/containers?pod_uid={uid}&pod_uid={uid}")
        assert error_of(response)["loc"] == ["query", "pod_uid"]
