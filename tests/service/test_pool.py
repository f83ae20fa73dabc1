"""The scan pool's slots and queue, on its own (real threads, a real event loop): the order of
waiters, the bounds, and no slot lost or doubled when waits end by timeout, cancellation or a
client that goes away (its ``cancelled`` awaitable completes). The HTTP side of the same rules
is in tests/http/test_limits.py."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from app.service.pool import Busy, ClientGone, Lease, ScanPool


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 10))


def pool(workers: int = 1, *, queue_limit: int = 4, queue_seconds: float = 5.0) -> ScanPool:
    return ScanPool(workers, queue_limit=queue_limit, queue_seconds=queue_seconds)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_waiters_are_served_in_arrival_order() -> None:
    async def test() -> None:
        scans = pool(1)
        held = await scans.lease()
        order: list[int] = []

        async def wait(n: int) -> None:
            lease = await scans.lease()
            order.append(n)
            lease.release()

        tasks = [asyncio.create_task(wait(n)) for n in range(4)]
        await settle()
        assert scans.waiting == 4 and scans.in_use == 1
        held.release()
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2, 3]
        assert (scans.in_use, scans.waiting) == (0, 0)
        scans.shutdown()

    run(test)


def test_a_full_queue_refuses_at_once_and_a_long_wait_ends_busy() -> None:
    async def test() -> None:
        scans = pool(1, queue_limit=1, queue_seconds=0.2)
        held = await scans.lease()
        waiting = asyncio.create_task(scans.lease())
        await settle()
        with pytest.raises(Busy):
            await scans.lease()  # the queue is full: no wait
        with pytest.raises(Busy):
            await waiting  # waited its 0.2 s
        assert (scans.in_use, scans.waiting, scans.rejected) == (1, 0, 2)
        held.release()
        assert scans.in_use == 0
        scans.shutdown()

    run(test)


def test_a_slot_freed_in_a_scan_thread_reaches_the_waiter() -> None:
    async def test() -> None:
        scans = pool(1)
        held = await scans.lease()
        waiting = asyncio.create_task(scans.lease())
        await settle()
        thread = threading.Thread(target=held.release)
        thread.start()
        thread.join()
        lease = await waiting
        assert (scans.in_use, scans.waiting) == (1, 0)
        lease.release()
        lease.release()  # idempotent
        assert scans.in_use == 0
        scans.shutdown()

    run(test)


@pytest.mark.parametrize("ending", ["cancelled", "timed out"])
def test_a_slot_handed_over_as_the_wait_ends_is_passed_on(ending: str) -> None:
    """The slot is given to a waiter in the same turn of the loop in which its wait is cancelled
    (or times out): the waiter must not keep it, and must not lose it either."""

    async def test() -> None:
        scans = pool(1, queue_seconds=0.05 if ending == "timed out" else 5.0)
        held = await scans.lease()
        first = asyncio.create_task(scans.lease())
        second = asyncio.create_task(scans.lease())
        await settle()
        if ending == "timed out":
            await asyncio.sleep(0.04)
            second.cancel()  # only the first one is left to time out
            await asyncio.sleep(0.0099)
        held.release()  # hands the slot to the first waiter
        if ending == "cancelled":
            first.cancel()
        results: list[Any] = await asyncio.gather(first, second, return_exceptions=True)
        leases = [r for r in results if isinstance(r, Lease)]
        for lease in leases:
            lease.release()
        await settle()
        assert (scans.in_use, scans.waiting) == (0, 0), results
        scans.shutdown()

    run(test)


def test_a_client_that_goes_away_leaves_the_queue() -> None:
    async def test() -> None:
        scans = pool(1)
        held = await scans.lease()
        disconnected = asyncio.Event()
        waiting = asyncio.create_task(scans.lease(disconnected.wait()))
        await settle()
        assert scans.waiting == 1
        disconnected.set()
        with pytest.raises(ClientGone):
            await waiting
        assert (scans.in_use, scans.waiting) == (1, 0)  # it took no slot
        held.release()
        assert scans.in_use == 0
        scans.shutdown()

    run(test)


def test_a_job_cleans_up_after_its_function_even_when_nobody_waits() -> None:
    async def test() -> None:
        scans = pool(1)
        inside, release = threading.Event(), threading.Event()
        cleaned: list[str] = []

        def work() -> int:
            inside.set()
            release.wait(5)
            return 42

        job = scans.submit(work)
        job.after(lambda: cleaned.append("after"))
        waiter = asyncio.ensure_future(job.future)
        await asyncio.get_running_loop().run_in_executor(None, inside.wait, 5)
        waiter.cancel()  # the caller stops waiting while the function runs
        await settle()
        assert cleaned == []  # not while the function may still use what it cleans up
        release.set()
        for _ in range(200):
            if cleaned:
                break
            await asyncio.sleep(0.01)
        assert cleaned == ["after"]
        job.after(lambda: cleaned.append("late"))  # once done, at once
        assert cleaned == ["after", "late"]
        scans.shutdown()

    run(test)


def test_errors_reach_the_caller() -> None:
    async def test() -> None:
        scans = pool(2)

        def fail() -> None:
            raise OSError(3, "No such process")

        with pytest.raises(OSError, match="No such process"):
            await scans.run_leased(fail)
        assert await scans.run_leased(lambda: 7) == 7
        await settle()
        assert scans.in_use == 0
        scans.shutdown()

    run(test)


def test_the_disconnect_watch_ends_with_the_wait() -> None:
    """Once a waiter has its slot nothing may go on awaiting its ``cancelled`` (in a server: on
    reading the request's ``receive``, which the response reads next)."""

    async def test() -> None:
        scans = pool(1)
        held = await scans.lease()
        reading: list[str] = []

        async def receive() -> None:
            reading.append("reading")
            try:
                await asyncio.sleep(60)
            finally:
                reading.append("stopped")

        waiting = asyncio.create_task(scans.lease(receive()))
        await settle()
        assert reading == ["reading"]
        held.release()
        (await waiting).release()
        await settle()
        assert reading == ["reading", "stopped"]
        scans.shutdown()

    run(test)


def test_a_job_goes_to_the_thread_that_went_idle_last() -> None:
    """One thread a job, woken alone: jobs one after the other run in the same thread (the one
    whose caches are warm), jobs at once each in a thread of its own."""

    async def test() -> None:
        scans = pool(3)
        one_after_the_other = {await scans.run_leased(threading.get_ident) for _ in range(5)}
        assert len(one_after_the_other) == 1
        started, release = threading.Barrier(4), threading.Event()

        def held() -> int:
            started.wait(5)
            release.wait(5)
            return threading.get_ident()

        jobs = [asyncio.ensure_future(scans.run_leased(held)) for _ in range(3)]
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
        release.set()
        at_once = set(await asyncio.gather(*jobs))
        assert len(at_once) == 3
        assert one_after_the_other <= at_once
        scans.shutdown()

    run(test)


def test_jobs_beyond_the_threads_wait_for_one_and_all_run() -> None:
    """``submit`` is meant for a caller holding a slot, but a job submitted while every thread
    has one is not lost: it runs when a thread comes free, in the order submitted."""

    async def test() -> None:
        scans = pool(2)
        release = threading.Event()
        ran: list[int] = []

        def job(n: int) -> Callable[[], int]:
            def work() -> int:
                release.wait(5)
                ran.append(n)
                return n

            return work

        jobs = [scans.submit(job(n)) for n in range(6)]
        release.set()
        assert [await job for job in jobs] == list(range(6))
        assert sorted(ran) == list(range(6))
        scans.shutdown()

    run(test)
