"""The rest of a scan runs as one job in a scan thread (``ChunkProducer``): real scans of a real
process with many regions, a real pool and event loop. The thread keeps at most ``AHEAD`` chunks
ready that the loop has not sent, goes on as the loop sends them, hands over exactly the records
of a scan that is not split, and stops when asked; a ``RunningScan`` (what streams and the JSON
document read) hands over the whole scan and gives its slot back. The HTTP side (formats,
trailers, errors in-band, clients that go away) is in tests/http/test_scan_http.py and
tests/stress/test_faults.py."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing

import pytest

from app.pagemap import ScanOptions, open_scan
from app.pagemap.policy import process_rule
from app.pagemap.scanner import Scan
from app.service.encoders import NdjsonEncoder
from app.service.pool import ScanPool
from app.service.scans import AHEAD, ChunkProducer, Encode, _End, start_scan
from tests.support.children import many_regions

CHUNK = 256  # records a kernel call: a few thousand regions make a dozen chunks and more


@pytest.fixture(scope="module")
def child() -> Iterator[subprocess.Popen[bytes]]:
    with many_regions(pages=8192) as process:
        yield process


def scan_of(child: subprocess.Popen[bytes]) -> Scan:
    return open_scan(child.pid, ScanOptions(), chunk_records=CHUNK)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition never held")
        await asyncio.sleep(0.01)


def run(test: Callable[[ScanPool], Awaitable[None]]) -> None:
    async def main() -> None:
        pool = ScanPool(2)
        try:
            await asyncio.wait_for(test(pool), 30)
        finally:
            pool.shutdown()

    asyncio.run(main())


def test_at_most_ahead_chunks_wait_and_each_send_lets_one_more_be_scanned(
    child: subprocess.Popen[bytes],
) -> None:
    async def test(pool: ScanPool) -> None:
        with closing(scan_of(child)) as scan:
            producer = ChunkProducer(scan, bytes, asyncio.get_running_loop())
            job = pool.submit(producer.run)
            await until(lambda: producer._items.qsize() == AHEAD)
            await asyncio.sleep(0.2)  # it waits for room: no more
            assert producer._items.qsize() == AHEAD
            first = await producer.next()
            assert isinstance(first, bytes) and first
            await asyncio.sleep(0.2)
            assert producer._items.qsize() == AHEAD - 1  # not sent yet: no room made
            producer.sent()
            await until(lambda: producer._items.qsize() == AHEAD)
            producer.stop()
            await job
            assert not scan.done

    run(test)


def test_the_chunks_are_the_scan_run_whole(child: subprocess.Popen[bytes]) -> None:
    async def test(pool: ScanPool) -> None:
        with closing(scan_of(child)) as whole:
            expected = whole.run()
        with closing(scan_of(child)) as scan:
            producer = ChunkProducer(scan, bytes, asyncio.get_running_loop())
            job = pool.submit(producer.run)
            chunks = []
            while isinstance(item := await producer.next(), bytes):
                chunks.append(item)
                producer.sent()
            await job
            assert item == _End(None)
            assert len(chunks) > AHEAD + 2
            assert b"".join(chunks) == expected
            assert scan.done

    run(test)


@pytest.mark.parametrize("encode", [None, NdjsonEncoder().regions], ids=["binary", "ndjson"])
def test_each_chunk_is_intact_while_the_next_ones_are_scanned(
    child: subprocess.Popen[bytes], encode: Encode
) -> None:
    """A chunk held unsent while the thread scans (and encodes) the next ones is still the
    kernel's answer: no buffer of one chunk is reused for another."""

    async def test(pool: ScanPool) -> None:
        with closing(scan_of(child)) as scan:
            records, walk_end, _ = scan.backend.scan(
                scan.target, scan.args.start, scan.args, max_pages=0, vec_len=1 << 20
            )
            assert walk_end == scan.args.end  # the kernel's whole answer in one call
            producer = ChunkProducer(scan, encode, asyncio.get_running_loop())
            job = pool.submit(producer.run)
            chunks = []
            while isinstance(item := await producer.next(), bytes):
                chunks.append(item)
                # The next chunks are scanned while this one waits to be sent.
                await until(lambda: producer._items.qsize() == AHEAD - 1 or scan.done)
                producer.sent()
            await job
            assert item == _End(None)
            assert len(chunks) > AHEAD + 2
            assert b"".join(chunks) == (records if encode is None else encode(records))

    run(test)


def test_an_error_in_the_scan_is_the_last_item(child: subprocess.Popen[bytes]) -> None:
    async def test(pool: ScanPool) -> None:
        with closing(scan_of(child)) as scan:

            def encode(records: bytes) -> bytes:
                raise ValueError("cannot encode")

            producer = ChunkProducer(scan, encode, asyncio.get_running_loop())
            job = pool.submit(producer.run)
            item = await producer.next()
            await job
            assert isinstance(item, _End) and isinstance(item.error, ValueError)

    run(test)


def test_a_running_scan_hands_over_the_whole_scan_and_its_slot(child: subprocess.Popen[bytes]) -> None:
    async def test(pool: ScanPool) -> None:
        with closing(scan_of(child)) as whole:
            expected = whole.run()
        running = await start_scan(
            pool,
            child.pid,
            ScanOptions(),
            authorize=process_rule(),
            chunk_records=CHUNK,
            timeout=30,
            encode=bytes,
        )
        try:
            assert not running.complete and pool.in_use == 1
            chunks = [running.first]
            while (chunk := await running.next_chunk()) is not None:
                chunks.append(chunk)
            assert len(chunks) > AHEAD + 2
            assert b"".join(chunks) == expected
        finally:
            running.close()
        await until(lambda: pool.in_use == 0)

    run(test)
