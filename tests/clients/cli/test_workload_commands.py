"""``pmscan containers``, ``summary``/``watch`` by ``--pod``/``--container`` and ``fleet locate`` /
``fleet summary --pod``: against real servers and a real pod (tests/support/kubepods.py). The
fleet's second node is a server in a PID namespace of its own, which sees none of the pod."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pmscan_client import Client

from tests.clients.cli.test_commands import COLUMNS, pmscan
from tests.support.cgroups import CgroupUnavailableError
from tests.support.children import sleepers
from tests.support.kubepods import KubePod, container_id
from tests.support.server import ServerProcess


@dataclass
class Pod:
    made: KubePod
    pids: list[list[int]]

    @property
    def uid(self) -> str:
        return self.made.uid

    def cid(self, index: int) -> str:
        return self.made.container_ids[index]


@pytest.fixture(scope="module")
def pod() -> Iterator[Pod]:
    """A CRI-O pod of two containers: two sleepers in the first, one in the second."""
    try:
        made = KubePod("systemd", 2, runtime="cri-o")
    except CgroupUnavailableError as e:
        pytest.skip(str(e))
    with made, sleepers(3) as children:
        places = [0, 0, 1]
        for child, index in zip(children, places, strict=True):
            made.add(child.pid, index)
        yield Pod(made, [[c.pid for c, i in zip(children, places, strict=True) if i == n] for n in (0, 1)])


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[ServerProcess]:
    """A server that sees only its own PID namespace: none of the pod's processes."""
    running = ServerProcess(
        auth="off", prefix=["unshare", "--pid", "--fork", "--mount-proc", "--kill-child=SIGTERM"]
    )
    with running:
        yield running
        assert running.process is not None
        running.process.kill()
        running.process.wait()


def rows(out: str) -> list[list[str]]:
    return [COLUMNS.split(line.strip()) for line in out.splitlines() if line.strip()]


class TestContainers:
    def test_table_and_json(self, server: ServerProcess, pod: Pod) -> None:
        status, out, _ = pmscan("containers", "--url", server.url, "--pod", pod.uid)
        assert status == 0
        table = rows(out)
        assert table[0] == ["CONTAINER", "RUNTIME", "POD UID", "QOS", "PROCS"]
        expected = sorted(
            [
                [pod.cid(0)[:12], "cri-o", pod.uid, "burstable", "2"],
                [pod.cid(1)[:12], "cri-o", pod.uid, "burstable", "1"],
            ]
        )
        assert sorted(table[1:]) == expected
        status, out, _ = pmscan("containers", "--url", server.url, "--container", pod.cid(1)[:12], "--json")
        (only,) = json.loads(out)
        assert status == 0 and (only["container_id"], only["pids"]) == (pod.cid(1), pod.pids[1])
        status, out, _ = pmscan("containers", "--url", server.url, "--runtime", "cri-o", "--json")
        assert status == 0 and {pod.cid(0), pod.cid(1)} <= {c["container_id"] for c in json.loads(out)}


class TestSummary:
    def test_of_a_pod(self, server: ServerProcess, client: Client, pod: Pod) -> None:
        status, out, err = pmscan("summary", "--url", server.url, "--pod", pod.uid)
        assert status == 0, err
        lines = out.splitlines()
        assert lines[0].startswith(f"pod {pod.uid}  2 containers  3 processes")
        table = rows("\n".join(lines[1:]))
        assert table[0][:3] == ["PID", "CONTAINER", "Matched KiB"] and "PRESENT KiB" in table[0]
        by_pid = {int(row[0]): row for row in table[1:] if row[0].isdigit()}
        assert by_pid.keys() == {*pod.pids[0], *pod.pids[1]}
        assert by_pid[pod.pids[1][0]][1] == pod.cid(1)[:12]
        page_size = client.capabilities().page_size
        for pid, row in by_pid.items():
            assert int(row[2]) == client.summary(pid).pages * page_size // 1024
        assert table[-1][0] == "total"
        assert int(table[-1][1]) == sum(int(row[2]) for row in by_pid.values())
        assert "skipped" not in out

    def test_json_of_a_container(self, server: ServerProcess, pod: Pod) -> None:
        status, out, _ = pmscan("summary", "--url", server.url, "--container", pod.cid(0)[:16], "--json")
        document = json.loads(out)
        assert status == 0 and document["container_id"] == pod.cid(0)
        assert [p["pid"] for p in document["processes"]] == pod.pids[0] and document["skipped"] == []

    def test_exactly_one_target(self, server: ServerProcess, pod: Pod) -> None:
        for argv in ([], [pod.pids[0][0], "--pod", pod.uid], ["--pod", pod.uid, "--container", pod.cid(0)]):
            status, _, err = pmscan("summary", "--url", server.url, *argv)
            assert status == 2 and "PID, --pod UID and --container ID" in err

    def test_not_found_and_ambiguous(self, server: ServerProcess) -> None:
        status, _, err = pmscan("summary", "--url", server.url, "--pod", str(uuid.uuid4()))
        assert status == 3 and "PodNotFound" in err
        status, _, err = pmscan("summary", "--url", server.url, "--container", container_id())
        assert status == 3 and "ContainerNotFound" in err
        prefix = uuid.uuid4().hex[:12]
        ids = [prefix + "0" + container_id()[:51], prefix + "1" + container_id()[:51]]
        with KubePod("systemd", container_ids=ids) as made, sleepers(2) as children:
            for index, child in enumerate(children):
                made.add(child.pid, index)
            status, _, err = pmscan("summary", "--url", server.url, "--container", prefix)
        assert status == 2 and "AMBIGUOUS_ID" in err and "give more digits of the id" in err


class TestWatch:
    def test_processes_column(self, server: ServerProcess, pod: Pod) -> None:
        status, out, err = pmscan(
            "watch", "--url", server.url, "--pod", pod.uid, "--interval", "0.1", "--count", "2"
        )
        assert status == 0, err
        table = rows(out)
        assert table[0][:4] == ["tick", "time", "processes", "pages"]
        assert [row[2] for row in table[1:]] == ["3", "3"]

    def test_json(self, server: ServerProcess, pod: Pod) -> None:
        status, out, _ = pmscan(
            "watch",
            "--url",
            server.url,
            "--container",
            pod.cid(1),
            "--interval",
            "0.1",
            "--count",
            "2",
            "--json",
        )
        ticks = [json.loads(line) for line in out.splitlines()]
        assert status == 0 and [(t["processes"], t["skipped"]) for t in ticks] == [(1, 0), (1, 0)]

    def test_a_pid_has_no_processes_column(self, server: ServerProcess, pod: Pod) -> None:
        status, out, _ = pmscan(
            "watch", "--url", server.url, pod.pids[1][0], "--interval", "0.1", "--count", "1"
        )
        assert status == 0 and "processes" not in out
        status, out, _ = pmscan(
            "watch", "--url", server.url, pod.pids[1][0], "--interval", "0.1", "--count", "1", "--json"
        )
        assert "processes" not in json.loads(out)


class TestFleet:
    def test_locate(self, server: ServerProcess, elsewhere: ServerProcess, pod: Pod) -> None:
        status, out, err = pmscan("fleet", elsewhere.url, server.url, "locate", "--pod", pod.uid)
        assert status == 0, err
        table = rows(out)
        assert table[0] == ["NODE", "CONTAINER", "RUNTIME", "QOS", "PROCS"]
        assert sorted(table[1:]) == sorted(
            [
                [server.url, pod.cid(0)[:12], "cri-o", "burstable", "2"],
                [server.url, pod.cid(1)[:12], "cri-o", "burstable", "1"],
            ]
        )
        status, out, _ = pmscan(
            "fleet", elsewhere.url, server.url, "locate", "--container", pod.cid(1)[:12], "--json"
        )
        assert status == 0 and list(json.loads(out)["nodes"]) == [server.url]

    def test_locate_nowhere_and_a_dead_node(self, server: ServerProcess, elsewhere: ServerProcess) -> None:
        status, out, err = pmscan("fleet", elsewhere.url, server.url, "locate", "--pod", str(uuid.uuid4()))
        assert (status, out) == (3, "") and "no node runs pod" in err
        dead = "http://127.0.0.1:9"
        status, _, err = pmscan(
            "fleet", dead, elsewhere.url, "locate", "--pod", str(uuid.uuid4()), "--node-timeout", "5"
        )
        assert status == 8 and dead in err and "no node that answered runs pod" in err

    def test_summary(self, server: ServerProcess, elsewhere: ServerProcess, pod: Pod) -> None:
        status, out, err = pmscan("fleet", elsewhere.url, server.url, "summary", "--pod", pod.uid)
        assert status == 0, err
        lines = out.splitlines()
        assert lines[0] == f"node {server.url}" and lines[1].startswith(f"pod {pod.uid}  2 containers")
        by_pid = {int(row[0]) for row in rows("\n".join(lines[2:]))[1:] if row[0].isdigit()}
        assert by_pid == {*pod.pids[0], *pod.pids[1]}
        status, out, err = pmscan("fleet", elsewhere.url, server.url, "summary", "--pod", str(uuid.uuid4()))
        assert (status, out) == (3, "") and "no node runs pod" in err

    def test_usage(self, server: ServerProcess, pod: Pod) -> None:
        for argv in (["locate"], ["summary", "1", "--pod", pod.uid], ["caps", "--pod", pod.uid]):
            status, _, err = pmscan("fleet", server.url, *argv)
            assert "pmscan: error: fleet" in err, argv
            assert status == 2, argv


class TestTop:
    def test_containers(self, server: ServerProcess, client: Client, pod: Pod) -> None:
        status, out, err = pmscan("--url", server.url, "top", "--containers", "-n", "0")
        assert status == 0, err
        lines = out.splitlines()
        assert lines[0].startswith("pmscan top: containers by present")
        table = rows("\n".join(lines[1:]))
        assert table[0][:4] == ["CONTAINER", "POD UID", "PROCS", "MAPPED KiB"]
        ours = {row[0]: row for row in table[1:] if len(row) > 3 and row[1] == pod.uid}
        assert {cid: row[2] for cid, row in ours.items()} == {pod.cid(0)[:12]: "2", pod.cid(1)[:12]: "1"}
        page_size = client.capabilities().page_size
        mapped = sum(client.summary(pid).pages for pid in pod.pids[0]) * page_size // 1024
        assert int(ours[pod.cid(0)[:12]][3]) == mapped

    def test_json(self, server: ServerProcess, pod: Pod) -> None:
        status, out, _ = pmscan("--url", server.url, "top", "--containers", "-n", "0", "--json")
        document = json.loads(out)
        ours = {c["container_id"]: c for c in document["containers"] if c.get("pod_uid") == pod.uid}
        assert status == 0 and set(ours) == {pod.cid(0), pod.cid(1)}
        assert (ours[pod.cid(1)]["processes"], ours[pod.cid(1)]["runtime"]) == (1, "cri-o")

    def test_not_with_groups(self, server: ServerProcess) -> None:
        status, _, err = pmscan("--url", server.url, "top", "--containers", "--groups")
        assert status == 2 and "--groups or --containers" in err
