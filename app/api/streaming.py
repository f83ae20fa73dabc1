"""Running a scan in the pool and streaming its chunks.

The first chunk is scanned before the response starts, so that errors a client can
cause (no such process, access denied, CHECK_WPASYNC) get their HTTP status; errors
after that end the stream with the format's error trailer. While one chunk is being
sent the next is already being scanned in a worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ..pagemap.exceptions import PagemapError
from ..pagemap.scanner import Scan
from ..pagemap.session import open_scan
from .formats import Encoder
from .pool import Lease, ScanPool
from .schemas import ScanRequest

__all__ = ["RunningScan", "ScanTimeout", "scan_kwargs", "start_scan", "stream_scan"]

log = logging.getLogger("pmscan")


class ScanTimeout(PagemapError):
    """The scan ran longer than the configured limit."""

    code = "ETIMEDOUT"


def scan_kwargs(body: ScanRequest, **overrides: Any) -> dict[str, Any]:
    """The domain call's arguments for a validated request."""
    fields = body.model_dump(exclude={"pid", "by_vma"})
    fields.update(overrides)
    return fields


@dataclass
class RunningScan:
    scan: Scan
    lease: Lease
    first: bytes

    def close(self) -> None:
        self.scan.close()
        self.lease.release()


async def start_scan(
    pool: ScanPool, body: ScanRequest, *, chunk_records: int, encode: Callable[[bytes], bytes], **overrides: Any
) -> RunningScan:
    """Take a pool slot, open the target and scan the first chunk (raises domain errors)."""
    lease = pool.lease()
    scan: Scan | None = None
    try:
        kwargs = scan_kwargs(body, chunk_records=chunk_records, **overrides)
        scan = await pool.run(lambda: open_scan(body.pid, **kwargs))
        opened = scan
        first = await pool.run(lambda: encode(opened.next_chunk()))
        return RunningScan(scan, lease, first)
    except BaseException:
        if scan is not None:
            scan.close()
        lease.release()
        raise


async def stream_scan(
    running: RunningScan, pool: ScanPool, encoder: Encoder, *, timeout: float
) -> AsyncIterator[bytes]:
    """The body: chunks, then the trailer, or the error trailer. Frees the slot at the
    end, on error, and when the client goes away (the generator is closed)."""
    scan = running.scan
    deadline = time.monotonic() + timeout
    pending: Future[bytes] | None = None
    try:
        chunk = running.first
        while True:
            pending = None if scan.done else pool.submit(lambda: encoder.regions(scan.next_chunk()))
            if chunk:
                yield chunk
            if pending is None:
                break
            try:
                chunk = await asyncio.wrap_future(pending)
            except Exception as exc:  # the stream has begun: report in-band
                pending = None
                log.info("scan of %d ended with %r", scan.target.pid, exc)
                yield encoder.error(exc)
                return
            pending = None
            if time.monotonic() > deadline and not scan.done:
                yield encoder.error(ScanTimeout(f"the scan exceeded its time limit of {timeout:g} s"))
                return
        yield encoder.trailer(scan)
    finally:
        if pending is not None and not pending.done():
            # A worker is still inside this scan: free everything when it returns.
            pending.add_done_callback(lambda _: running.close())
        else:
            running.close()
