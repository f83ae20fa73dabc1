"""``FleetClient`` against three real servers on different ports, one of them stopped mid-test,
and nodes discovered from a DNS name."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from pmscan_client import (
    Category,
    Client,
    FleetClient,
    FleetSummary,
    ProcessInfo,
    Timeout,
    TransportError,
    discover_nodes,
    distinct_nodes,
)

from tests.support.server import ServerProcess
from tests.support.target import Area, Target


@pytest.fixture(scope="module")
def nodes(server: ServerProcess) -> Iterator[list[ServerProcess]]:
    """Three servers: the package's, and two more (the last one is stopped by a test)."""
    more = [ServerProcess(auth="off"), ServerProcess(auth="off")]
    with contextlib.ExitStack() as stack:
        for node in more:
            stack.push(node)  # stopped at the end, started or not
        with ThreadPoolExecutor(len(more)) as starting:  # in parallel: each start waits until ready
            list(starting.map(ServerProcess.start, more))
        yield [server, *more]


def test_one_query_to_every_node(nodes: list[ServerProcess], target: Target, patterned: Area) -> None:
    with Client(nodes[0].url) as client:
        single = client.summary(target.pid, start=patterned.start, end=patterned.end)

    async def ask() -> FleetSummary:
        async with FleetClient([n.url for n in nodes], concurrency=2, node_timeout=10) as fleet:
            return await fleet.summary(target.pid, start=patterned.start, end=patterned.end)

    result = asyncio.run(ask())
    assert result.ok and list(result.results) == [n.url for n in nodes]
    assert all(s == single for s in result.results.values())
    assert result.pages == 3 * single.pages
    assert result.categories == {c: 3 * n for c, n in single.categories.items()}
    assert list(result.categories) == sorted(result.categories, key=lambda c: c.value)


def test_a_dead_node_fails_alone(nodes: list[ServerProcess], target: Target) -> None:
    async def ask() -> tuple[FleetSummary, FleetSummary]:
        async with FleetClient([n.url for n in nodes], node_timeout=10) as fleet:
            before = await fleet.summary(target.pid, category_mask=Category.PRESENT)
            nodes[2].stop()  # mid-test: the fleet's connection to it is open
            after = await fleet.summary(target.pid, category_mask=Category.PRESENT)
            return before, after

    before, after = asyncio.run(ask())
    assert before.ok and len(before.results) == 3
    assert list(after.results) == [nodes[0].url, nodes[1].url]
    assert isinstance(after.errors[nodes[2].url], TransportError)
    assert not after.ok


def test_a_silent_node_times_out(nodes: list[ServerProcess]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}"

        async def ask() -> tuple[object, object]:
            # Long enough for a real node to answer on a loaded machine; the silent one never does.
            async with FleetClient([nodes[0].url, silent_url], node_timeout=2) as fleet:
                processes = await fleet.processes(comm="pmtarget")
                capabilities = await fleet.capabilities()
                return processes, capabilities

        processes, capabilities = asyncio.run(ask())
    assert isinstance(processes.errors[silent_url], Timeout)  # type: ignore[attr-defined]
    assert all(isinstance(p, ProcessInfo) for p in processes.results[nodes[0].url])  # type: ignore[attr-defined]
    assert list(capabilities.results) == [nodes[0].url]  # type: ignore[attr-defined]


def test_nodes_from_a_dns_name(nodes: list[ServerProcess], target: Target) -> None:
    port = nodes[0].port
    assert port is not None
    found = asyncio.run(discover_nodes("localhost", port=port, scheme="http"))
    assert f"http://127.0.0.1:{port}" in found
    assert asyncio.run(discover_nodes("127.0.0.1")) == ["https://127.0.0.1:6716"]
    assert asyncio.run(discover_nodes("::1", port=1)) == ["https://[::1]:1"]

    async def ask() -> FleetSummary:
        fleet = await FleetClient.from_service("localhost", port=port, scheme="http", node_timeout=5)
        async with fleet:
            return await fleet.summary(target.pid)

    result = asyncio.run(ask())
    assert result.results[f"http://127.0.0.1:{port}"].pid == target.pid


def test_a_name_that_does_not_resolve() -> None:
    with pytest.raises(TransportError, match="cannot resolve"):
        asyncio.run(discover_nodes("no-such-service.invalid"))


def test_one_node_under_two_names_is_one_node(nodes: list[ServerProcess]) -> None:
    """``localhost`` resolves to 127.0.0.1: the same node, asked once; the first name is kept."""
    port, other = nodes[0].port, nodes[1].port
    given = [
        f"http://127.0.0.1:{port}",
        f"http://localhost:{port}",
        f"http://127.0.0.1:{port}/",
        f"https://127.0.0.1:{port}",  # another scheme: another node
        f"http://localhost:{other}",  # another port: another node
        f"http://127.0.0.1:{other}",
        "http://no-such-node.invalid:6716",  # kept: asking it says what is wrong
    ]
    assert asyncio.run(distinct_nodes(given)) == [
        f"http://127.0.0.1:{port}",
        f"https://127.0.0.1:{port}",
        f"http://localhost:{other}",
        "http://no-such-node.invalid:6716",
    ]
