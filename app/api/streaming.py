"""Running a scan in the pool and streaming its chunks.

The first chunk is scanned before the response starts, so that errors a client can
cause (no such process, access denied, CHECK_WPASYNC) get their HTTP status; errors
after that end the stream with the format's error trailer. While one chunk is being
sent the next is already being scanned in a worker.

A scan is bounded by its deadline (``ScanTimeout``, checked by the domain between kernel
calls) and, while the server shuts down, by :class:`~app.api.shutdown.Shutdown`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ..pagemap.credentials import Authorize
from ..pagemap.scanner import Scan
from ..pagemap.session import ScanOptions, open_scan
from .audit import ProcessAccess
from .formats import Encoder
from .pool import Job, Lease, ScanPool
from .shutdown import Shutdown

__all__ = ["RunningScan", "ScanStreamResponse", "start_scan", "stream_scan"]

log = logging.getLogger("pmscan")


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


async def stream_scan(
    running: RunningScan, pool: ScanPool, encoder: Encoder, *, shutdown: Shutdown | None = None
) -> AsyncIterator[bytes]:
    """The body: chunks, then the trailer, or the error trailer. Frees the slot at the
    end, on error, and when the client goes away (the generator is closed)."""
    scan = running.scan
    pending: Job[bytes] | None = None
    try:
        chunk = running.first
        while True:
            if not scan.done and shutdown is not None and shutdown.ending_streams:
                if chunk:
                    yield chunk
                yield _failed(running, encoder, shutdown.error())
                return
            pending = None if scan.done else pool.submit(lambda: encoder.regions(scan.next_chunk()))
            if chunk:
                yield chunk
            if pending is None:
                break
            try:
                chunk = await pending
            except Exception as exc:  # the stream has begun: report in-band
                pending = None
                log.info("scan of %d ended with %r", scan.target.pid, exc)
                yield _failed(running, encoder, exc)
                return
            pending = None
        yield encoder.trailer(scan)
    finally:
        if pending is not None:
            # A worker may still be inside this scan: free everything when it returns.
            pending.after(running.close)
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
