"""The containerized agent, as the DaemonSet runs it (the host's PID namespace, a private cgroup
namespace, the DaemonSet's capabilities and read-only root), sees the node's pods as a server on
the host does: the same containers, the same processes in them, the same cgroup summaries."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.image._agent import Agent
from tests.support.cgroups import CgroupUnavailableError
from tests.support.children import sleepers
from tests.support.kubepods import KubePod
from tests.support.server import ServerProcess


@dataclass
class Node:
    pods: list[KubePod]
    pids: list[int]


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    """Pods of both drivers (the systemd driver's in the unified hierarchy, cgroupfs' in v1's
    memory hierarchy when it is mounted), each with a sleeper in each container."""
    try:
        with contextlib.ExitStack() as stack:
            pods = [stack.enter_context(KubePod("systemd", 2))]
            with contextlib.suppress(CgroupUnavailableError):  # a node without v1's memory hierarchy
                pods.append(stack.enter_context(KubePod("cgroupfs", 1)))
            places = [(pod, index) for pod in pods for index in range(len(pod.container_ids))]
            children = stack.enter_context(sleepers(len(places)))
            for child, (pod, index) in zip(children, places, strict=True):
                pod.add(child.pid, index)
            yield Node(pods, [child.pid for child in children])
    except CgroupUnavailableError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def host() -> Iterator[httpx.Client]:
    with ServerProcess(auth="off") as server, server.client() as client:
        yield client


@pytest.fixture(scope="module")
def inside(agent: Agent, admin: str) -> Iterator[httpx.Client]:
    with agent.client(admin) as client:
        yield client


def get(http: httpx.Client, path: str, **params: Any) -> Any:
    response = http.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_premise(agent: Agent, node: Node) -> None:
    """The agent's cgroup namespace is its own: the pods' paths read relative to its cgroup."""
    pid = agent.container.pid
    assert os.stat(f"/proc/{pid}/ns/cgroup").st_ino != os.stat("/proc/self/ns/cgroup").st_ino
    seen = subprocess.run(
        ["nsenter", f"--cgroup=/proc/{pid}/ns/cgroup", "cat", f"/proc/{node.pids[0]}/cgroup"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "::/.." in seen
    assert "private cgroup namespace" not in agent.container.logs()  # every hierarchy placed


def test_the_same_containers(inside: httpx.Client, host: httpx.Client, node: Node) -> None:
    for pod in node.pods:
        expected = get(host, "/containers", pod_uid=pod.uid)
        assert len(expected) == len(pod.container_ids)
        assert get(inside, "/containers", pod_uid=pod.uid) == expected
        assert get(inside, "/processes", pod_uid=pod.uid) == get(host, "/processes", pod_uid=pod.uid)


def test_the_same_cgroup_summaries(inside: httpx.Client, host: httpx.Client, node: Node) -> None:
    for pod in node.pods:
        for spec in (pod.spec(0), pod.cgroup.spec(pod.pod_path)):
            answers = [http.post("/summary", json={"cgroup": spec}) for http in (host, inside)]
            assert [a.status_code for a in answers] == [200, 200], answers[1].text
            on_host, in_agent = (a.json() for a in answers)
            assert [p["pid"] for p in in_agent["processes"]] == [p["pid"] for p in on_host["processes"]]
            assert on_host["processes"]


def test_a_pods_summary(inside: httpx.Client, host: httpx.Client, node: Node) -> None:
    pod = node.pods[0]
    answers = [http.post("/summary", json={"pod_uid": pod.uid}).json() for http in (host, inside)]
    assert answers[1]["containers"] == answers[0]["containers"]
    assert sorted(p["pid"] for p in answers[1]["processes"]) == sorted(
        pid for pid in node.pids if pid in {p for c in answers[0]["containers"] for p in c["pids"]}
    )
