"""Running a scan in the pool and streaming its chunks.

The first chunk is scanned before the response starts, so that errors a client can
cause (no such process, access denied, CHECK_WPASYNC) get their HTTP status; errors
after that end the stream with the format's error trailer. The rest of the scan runs as one
job in a scan thread (:class:`ChunkProducer`), which hands each chunk to the event loop as soon
as it is encoded and goes on with the next while the loop sends, at most :data:`AHEAD` chunks
ahead of the sending.

A scan is bounded by its deadline (``ScanTimeout``, checked by the domain between kernel
calls) and, while the server shuts down, by :class:`~app.api.shutdown.Shutdown`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ..pagemap.policy import Authorize
from ..pagemap.scanner import Scan
from ..pagemap.session import ScanOptions, open_scan
from .audit import ProcessAccess
from .formats import Encoder
from .pool import Job, Lease, ScanPool
from .shutdown import Shutdown

__all__ = ["AHEAD", "ChunkProducer", "RunningScan", "ScanStreamResponse", "start_scan", "stream_scan"]

log = logging.getLogger("pmscan")

#: Chunks a stream's scan thread may have ready before the event loop has sent them. Handing
#: each chunk back and waiting for the loop to ask for the next left the kernel idle for a hop
#: (0.2-0.9 ms) between chunks: 4 ms of a 21 ms answer of 131072 regions (2026-12-07). Memory
#: stays bounded: at most this many encoded chunks wait, besides the one being sent and the
#: one being scanned.
AHEAD = 2


@dataclass
class RunningScan:
    scan: Scan
    lease: Lease
    first: bytes
    access: ProcessAccess | None = None

    def close(self) -> None:
        self.scan.close()
        self.lease.release()


async def start_scan(
    pool: ScanPool,
    pid: int,
    options: ScanOptions,
    receive: Receive,
    *,
    authorize: Authorize,
    chunk_records: int,
    timeout: float,
    encode: Callable[[bytes], bytes],
    access: ProcessAccess | None = None,
) -> RunningScan:
    """Take a pool slot, open the target and scan the first chunk (raises domain errors).

    The scan must end within ``timeout`` seconds from now; ``authorize`` is applied to the
    process opened; ``access`` records the scan; ``receive`` is the request's (to leave the
    pool's queue if the client goes away while waiting).
    """
    lease = await pool.lease(receive)
    opened: list[Scan] = []
    job: Job[bytes] | None = None
    try:
        deadline = time.monotonic() + timeout

        def open_and_scan_first_chunk() -> bytes:
            # One thread hop for both: for most processes the first chunk is the whole answer.
            opened.append(
                open_scan(pid, options, authorize=authorize, chunk_records=chunk_records, deadline=deadline)
            )
            if access is not None:
                access.scan = opened[0]
            return encode(opened[0].next_chunk())

        # Never on the event loop, however short the last one was: the kernel call takes the
        # target's mmap lock, which the target may hold for writing as long as it likes.
        job = pool.submit(open_and_scan_first_chunk)
        first = await job
        return RunningScan(opened[0], lease, first, access)
    except BaseException:

        def clean_up() -> None:
            if opened:
                opened[0].close()
            lease.release()

        if job is None:
            clean_up()
        else:
            job.after(clean_up)  # not while a scan thread may still be inside the scan
        raise


@dataclass(frozen=True)
class _End:
    """The producer's last item: the scan is done (``error`` None) or failed with ``error``."""

    error: Exception | None = None


class ChunkProducer:
    """The rest of ``scan`` in one scan-thread job (:meth:`run`): each chunk, encoded, handed to
    the event loop as soon as it is ready, then an :class:`_End`; at most :data:`AHEAD` chunks
    the loop has not yet sent (:meth:`sent`). :meth:`stop` makes the job return after the chunk
    it is scanning, if any. The scan itself is touched by the thread alone until the end."""

    def __init__(self, scan: Scan, encode: Callable[[bytes], bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._scan = scan
        self._encode = encode
        self._loop = loop
        self._items: asyncio.Queue[bytes | _End] = asyncio.Queue()
        self._room = threading.Semaphore(AHEAD)
        self._stopped = threading.Event()

    def run(self) -> None:  # in a scan thread
        error: Exception | None = None
        try:
            while not self._scan.done:
                # In slices: a stream whose generator is never closed (its loop went away)
                # must not hold this thread for good, nor the pool's shutdown that joins it.
                while not self._room.acquire(timeout=1.0):
                    if self._loop.is_closed():
                        return
                if self._stopped.is_set():
                    return
                self._hand(self._encode(self._scan.next_chunk()))
        except Exception as exc:
            error = exc
        except BaseException as exc:
            error = RuntimeError(f"the scan thread stopped: {exc!r}")
            raise
        finally:
            self._hand(_End(error))

    async def next(self) -> bytes | _End:
        """The next chunk, or the end (on the loop)."""
        return await self._items.get()

    def sent(self) -> None:
        """A chunk has been sent: the thread may scan one more."""
        self._room.release()

    def stop(self) -> None:
        self._stopped.set()
        self._room.release()  # a thread waiting for room wakes and returns

    def _hand(self, item: bytes | _End) -> None:
        try:
            self._loop.call_soon_threadsafe(self._items.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is left to read
            log.debug("a scan chunk was ready after the event loop closed")


async def stream_scan(
    running: RunningScan, pool: ScanPool, encoder: Encoder, *, shutdown: Shutdown | None = None
) -> AsyncIterator[bytes]:
    """The body: chunks, then the trailer, or the error trailer. Frees the slot at the
    end, on error, and when the client goes away (the generator is closed)."""
    scan = running.scan
    job: Job[None] | None = None
    producer: ChunkProducer | None = None
    try:
        if running.first:
            yield running.first
        if not scan.done:
            producer = ChunkProducer(scan, encoder.regions, asyncio.get_running_loop())
            job = pool.submit(producer.run)
            while True:
                if shutdown is not None and shutdown.ending_streams:
                    yield _failed(running, encoder, shutdown.error())
                    return
                item = await producer.next()
                if isinstance(item, _End):
                    if item.error is not None:  # the stream has begun: report in-band
                        log.info("scan of %d ended with %r", scan.target.pid, item.error)
                        yield _failed(running, encoder, item.error)
                        return
                    break
                yield item
                producer.sent()
        yield encoder.trailer(scan)
    finally:
        if producer is not None:
            producer.stop()
        if job is not None:
            # The thread may still be inside this scan: free everything when it returns.
            job.after(running.close)
        else:
            running.close()


def _failed(running: RunningScan, encoder: Encoder, exc: Exception) -> bytes:
    if running.access is not None:
        running.access.error = exc
    return encoder.error(exc)


class ScanStreamResponse(StreamingResponse):
    """A streamed scan that is closed as soon as the response ends, however it ends.

    Starlette stops iterating when the client goes away but leaves closing the
    generator to the garbage collector; closing it here frees the scan's worker slot
    and file descriptors at once (and lets the audit log see the end of the stream).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()
