"""The SDK by pod and container, end to end: ``Client``, ``AsyncClient`` and ``FleetClient``
against real servers and real pods (tests/support/kubepods.py). The fleet's second node is a
server in a PID namespace of its own, which sees none of the pod's processes: another node."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pmscan_client import (
    AsyncClient,
    Category,
    Client,
    ContainerInfo,
    ContainerNotFound,
    FleetClient,
    FleetResult,
    FleetWorkloadSummary,
    InvalidRequest,
    PodNotFound,
    ProcessNotFound,
    WatchTick,
    WorkloadSummary,
)

from tests.support.cgroups import CgroupUnavailableError
from tests.support.children import sleepers
from tests.support.kubepods import KubePod, container_id
from tests.support.server import ServerProcess

#: Where FleetClient.locate found a workload: its containers on each node that runs it.
Located = FleetResult[list[ContainerInfo]]


@dataclass
class Pod:
    """A CRI-O pod (systemd driver) of two containers, a sleeper in each, and one more in the
    first."""

    made: KubePod
    pids: list[list[int]]

    @property
    def uid(self) -> str:
        return self.made.uid

    def expected(self, index: int) -> ContainerInfo:
        return ContainerInfo(
            container_id=self.made.container_ids[index],
            runtime="cri-o",
            pod_uid=self.made.uid,
            qos="burstable",
            cgroup=self.made.spec(index),
            pids=sorted(self.pids[index]),
        )

    def containers(self) -> list[ContainerInfo]:
        """Both containers, in the server's order: by container id."""
        return sorted((self.expected(0), self.expected(1)), key=lambda c: c.container_id)


@pytest.fixture(scope="module")
def pod() -> Iterator[Pod]:
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
        # unshare --fork waits out SIGTERM; killed, it hands the server a SIGTERM (--kill-child).
        assert running.process is not None
        running.process.kill()
        running.process.wait()


class TestClient:
    def test_containers(self, client: Client, pod: Pod) -> None:
        assert client.containers(pod_uid=pod.uid) == pod.containers()
        assert client.containers(container_id=pod.made.container_ids[1][:12]) == [pod.expected(1)]
        assert pod.expected(0) in client.containers(runtime="cri-o")
        assert client.containers(pod_uid=str(uuid.uuid4())) == []
        assert json.loads(json.dumps(pod.expected(0).to_dict()))["runtime"] == "cri-o"

    def test_processes(self, client: Client, pod: Pod) -> None:
        found = client.processes(pod_uid=pod.uid)
        assert sorted(p.pid for p in found) == sorted(pid for pids in pod.pids for pid in pids)
        assert {(p.container_id, p.pod_uid) for p in found if p.pid in pod.pids[1]} == {
            (pod.made.container_ids[1], pod.uid)
        }
        assert [p.pid for p in client.processes(container_id=pod.made.container_ids[0])] == pod.pids[0]

    def test_summary_of_a_pod(self, client: Client, pod: Pod) -> None:
        result = client.summary(pod_uid=pod.uid)
        assert isinstance(result, WorkloadSummary)
        assert (result.pod_uid, result.container_id, result.skipped) == (pod.uid, None, [])
        assert result.containers == pod.containers()
        assert [p.pid for p in result.processes] == sorted(pid for pids in pod.pids for pid in pids)
        assert all(p == client.summary(p.pid) for p in result.processes)
        assert result.pages == sum(p.pages for p in result.processes)
        assert json.loads(json.dumps(result.to_dict()))["pod_uid"] == pod.uid

    def test_summary_of_a_container(self, client: Client, pod: Pod) -> None:
        full = pod.made.container_ids[0]
        result = client.summary(container_id=full[:16], category_mask=["PRESENT"])
        assert (result.container_id, result.pod_uid) == (full, None)
        assert [p.pid for p in result.processes] == pod.pids[0]
        assert all(p.pages and p.categories[Category.PRESENT] == p.pages for p in result.processes)

    def test_watch(self, client: Client, pod: Pod) -> None:
        ticks = list(client.watch(pod_uid=pod.uid, interval_seconds=0.1, count=3))
        assert [(t.tick, t.processes, t.skipped) for t in ticks] == [(0, 3, 0), (1, 3, 0), (2, 3, 0)]
        assert all(isinstance(t, WatchTick) and t.pages for t in ticks)
        (tick,) = client.watch(pod.pids[1][0], interval_seconds=0.1, count=1)
        assert (tick.processes, tick.skipped) == (None, None)

    def test_not_found(self, client: Client) -> None:
        with pytest.raises(PodNotFound) as pod_error:
            client.summary(pod_uid=str(uuid.uuid4()))
        with pytest.raises(ContainerNotFound) as container_error:
            next(iter(client.watch(container_id=container_id(), interval_seconds=1, count=1)))
        for error in (pod_error.value, container_error.value):
            assert isinstance(error, ProcessNotFound) and error.status == 404  # every 404's class
        assert (pod_error.value.code, container_error.value.code) == ("NO_SUCH_POD", "NO_SUCH_CONTAINER")
        assert pod_error.value.message.startswith("pod_uid: ")

    def test_invalid(self, client: Client) -> None:
        with pytest.raises(InvalidRequest) as error:
            client.containers(container_id="4f2d9c0b")
        assert [e["loc"] for e in error.value.errors] == [["query", "container_id"]]
        with pytest.raises(InvalidRequest):
            client.summary(pod_uid="not-a-uid")
        with pytest.raises(TypeError, match="exactly one"):
            client.summary(1, pod_uid=str(uuid.uuid4()))  # type: ignore[call-overload]
        with pytest.raises(TypeError, match="exactly one"):
            client.watch(interval_seconds=1, count=1)

    def test_an_ambiguous_prefix(self, client: Client) -> None:
        prefix = uuid.uuid4().hex[:12]
        ids = [prefix + "0" + container_id()[:51], prefix + "1" + container_id()[:51]]
        with KubePod("systemd", container_ids=ids) as made, sleepers(2) as children:
            for index, child in enumerate(children):
                made.add(child.pid, index)
            with pytest.raises(InvalidRequest) as error:
                client.summary(container_id=prefix)
            assert error.value.code == "AMBIGUOUS_ID"


class TestAsyncClient:
    def test_the_same_answers(self, server: ServerProcess, client: Client, pod: Pod) -> None:
        async def ask() -> tuple[list[ContainerInfo], WorkloadSummary, list[WatchTick]]:
            async with AsyncClient(server.url) as node:
                found = await node.containers(pod_uid=pod.uid)
                summary = await node.summary(container_id=pod.made.container_ids[1])
                ticks = [t async for t in node.watch(pod_uid=pod.uid, interval_seconds=0.1, count=2)]
                with pytest.raises(PodNotFound):
                    await node.summary(pod_uid=str(uuid.uuid4()))
                return found, summary, ticks

        found, summary, ticks = asyncio.run(ask())
        assert found == client.containers(pod_uid=pod.uid)
        assert summary.containers == [pod.expected(1)] and [p.pid for p in summary.processes] == pod.pids[1]
        assert [t.processes for t in ticks] == [3, 3]


class TestFleet:
    def test_locate(self, server: ServerProcess, elsewhere: ServerProcess, pod: Pod) -> None:
        async def ask() -> tuple[Located, Located, Located]:
            async with FleetClient([elsewhere.url, server.url], node_timeout=20) as fleet:
                return (
                    await fleet.locate(pod_uid=pod.uid),
                    await fleet.locate(container_id=pod.made.container_ids[0][:12]),
                    await fleet.locate(pod_uid=str(uuid.uuid4())),
                )

        by_pod, by_container, nowhere = asyncio.run(ask())
        assert by_pod.ok and by_pod.results == {server.url: pod.containers()}
        assert by_container.results == {server.url: [pod.expected(0)]}
        assert nowhere.ok and nowhere.results == {}

    def test_summary_from_the_node_that_runs_it(
        self, server: ServerProcess, elsewhere: ServerProcess, client: Client, pod: Pod
    ) -> None:
        async def ask() -> tuple[FleetWorkloadSummary, FleetWorkloadSummary]:
            async with FleetClient([elsewhere.url, server.url], node_timeout=20) as fleet:
                return await fleet.summary(pod_uid=pod.uid), await fleet.summary(container_id=container_id())

        found, nowhere = asyncio.run(ask())
        assert found.ok and found.node == server.url
        assert found.summary is not None and found.summary.containers == client.containers(pod_uid=pod.uid)
        assert nowhere.ok and (nowhere.node, nowhere.summary, nowhere.results) == (None, None, {})

    def test_a_node_that_cannot_answer_is_an_error_not_an_absence(
        self, server: ServerProcess, pod: Pod
    ) -> None:
        async def ask() -> FleetWorkloadSummary:
            dead = "http://127.0.0.1:9"  # discard: nothing listens
            async with FleetClient([dead, server.url], node_timeout=5) as fleet:
                return await fleet.summary(pod_uid=pod.uid)

        result = asyncio.run(ask())
        assert result.node == server.url and list(result.errors) == ["http://127.0.0.1:9"]

    def test_exactly_one_selector(self) -> None:
        async def ask() -> None:
            async with FleetClient(["http://127.0.0.1:9"]) as fleet:
                with pytest.raises(TypeError):
                    await fleet.locate()
                with pytest.raises(TypeError):
                    await fleet.summary(1, pod_uid=str(uuid.uuid4()))

        asyncio.run(ask())
