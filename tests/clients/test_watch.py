"""``Client.watch`` / ``AsyncClient.watch`` against a real server and target: ticks as they come,
the write-watch, and the exceptions of a watch that ends early or is refused."""

from __future__ import annotations

import asyncio

import pytest
from pmscan_client import AsyncClient, Category, Client, InvalidRequest, ProcessGone, ScanFlag, WatchTick

from tests.support.server import ServerProcess
from tests.support.target import Target


def test_ticks_as_domain_objects(client: Client, target: Target) -> None:
    area = target.anon("a", 16)
    target.write(area, 0, 3)
    ticks = list(
        client.watch(
            target.pid,
            interval_seconds=0.05,
            count=3,
            start=area.start,
            end=area.end,
            category_mask="PRESENT",
        )
    )
    assert [t.tick for t in ticks] == [0, 1, 2]
    assert all(isinstance(t, WatchTick) and not t.late for t in ticks)
    assert all(t.pages == 3 and t.categories[Category.PRESENT] == 3 for t in ticks)


def test_the_write_watch(client: Client, target: Target) -> None:
    area = target.anon("a", 64)
    target.uffd_wp(area)
    counts = []
    watch = client.watch(
        target.pid,
        interval_seconds=1.0,
        count=3,
        start=area.start,
        end=area.end,
        flags=ScanFlag.WP_MATCHING,
        category_mask=Category.WRITTEN,
    )
    for number, tick in enumerate(watch):
        counts.append(tick.pages)
        target.scatter(area, 10 * (number + 1), seed=number + 1)
    assert counts == [0, 10, 20]


def test_async(server: ServerProcess, target: Target) -> None:
    async def watch() -> list[WatchTick]:
        async with AsyncClient(server.url) as node:
            return [tick async for tick in node.watch(target.pid, interval_seconds=0.05, count=2)]

    assert [t.tick for t in asyncio.run(watch())] == [0, 1]


def test_an_exit_raises_process_gone(client: Client, target: Target) -> None:
    watch = client.watch(target.pid, interval_seconds=0.1, count=100)
    assert next(watch).tick == 0
    target.exit(0)
    with pytest.raises(ProcessGone) as caught:
        list(watch)
    assert caught.value.code == "EXITED"


def test_a_bad_schedule_is_invalid(client: Client, target: Target) -> None:
    with pytest.raises(InvalidRequest):
        next(client.watch(target.pid, interval_seconds=1, count=10**9))
