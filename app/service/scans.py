"""Scanning a process (``POST /scan``): the scan, run in the pool, in the format asked for.

The first chunk is scanned before the answer starts (:func:`start_scan`), so that errors a
client can cause (no such process, access denied, CHECK_WPASYNC) get their HTTP status; for
most processes it is the whole answer, which then comes back as one ``bytes``. The rest of a
larger scan runs as one job in a scan thread (:class:`ChunkProducer`), which hands each chunk to
the event loop as soon as it is scanned (text is encoded in another thread meanwhile) and goes
on with the next while the loop sends it, at most :data:`AHEAD` chunks ahead of the sending.
NDJSON and raw records stream those chunks (errors after the first chunk end the stream with the
format's error trailer);
``application/json`` gathers them into one document, bounded by ``json_max_regions``. Both read
them from :meth:`RunningScan.next_chunk`.

A scan is bounded by its deadline (``ScanTimeout``, checked by the domain between kernel
calls) and, while the server shuts down, by :class:`~.shutdown.Shutdown` (streams only).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

from ..errors import PmscanError
from ..pagemap.categories import ScanFlag
from ..pagemap.policy import Authorize
from ..pagemap.scanner import Scan
from ..pagemap.session import ScanOptions, open_scan
from .audit import ProcessAccess
from .encoders import ENCODERS, JSON, Encode, Encoder, json_region_list
from .pool import Job, Lease, ScanPool
from .shutdown import Shutdown

__all__ = [
    "AHEAD",
    "Answer",
    "ChunkProducer",
    "PayloadTooLarge",
    "RunningScan",
    "ScanLimits",
    "Scans",
    "start_scan",
    "stream_scan",
]

log = logging.getLogger("pmscan")

#: Chunks a scan thread may have ready before the event loop has sent them. Handing each chunk
#: back and waiting for the loop to ask for the next would leave the kernel idle for a thread
#: hop between chunks. Memory stays bounded: at most this many encoded chunks wait, besides the
#: one being sent and the one being scanned.
AHEAD = 2

#: Where the chunks of a text answer (NDJSON, JSON) are encoded after the first: the encoder
#: runs without the GIL, so chunk N is encoded here while the scan thread's kernel call walks
#: chunk N+1 (on another CPU). Not a scan thread: no kernel call runs here, only the encoding of
#: bytes already read. One thread a CPU: more could not run at once.
_ENCODING = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="pmscan-encode")


class PayloadTooLarge(PmscanError):
    """The answer is too large for application/json: use a streaming format, or page with vec_len."""

    status = 413
    code = "TOO_LARGE"


@dataclass(frozen=True)
class ScanLimits:
    """What bounds every scan: records per kernel call, seconds from its start, and the regions
    of one ``application/json`` answer."""

    chunk_records: int
    timeout_seconds: float
    json_max_regions: int


@dataclass(frozen=True)
class Answer:
    """A scan's answer in ``media_type``: all of it (``body``), or a stream of it (``stream``,
    which frees the scan when it ends or is closed)."""

    media_type: str
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None


class Scans:
    """Scans of processes in ``pool``, within ``limits``; streams end early when ``shutdown``
    says so."""

    def __init__(self, pool: ScanPool, shutdown: Shutdown, limits: ScanLimits) -> None:
        self.pool = pool
        self.shutdown = shutdown
        self.limits = limits

    async def scan(
        self,
        pid: int,
        options: ScanOptions,
        media_type: str,
        *,
        authorize: Authorize,
        cancelled: Awaitable[object] | None = None,
        access: ProcessAccess | None = None,
    ) -> Answer:
        """The scan of ``pid`` that ``options`` describe, in ``media_type`` (one of
        :mod:`.encoders`'), as ``authorize`` allows. Raises ``PayloadTooLarge``, ``Busy`` and the
        domain's errors. ``cancelled``: see :meth:`.pool.ScanPool.lease`; ``access`` records it."""
        if media_type == JSON:
            document = await self._document(pid, options, authorize, cancelled, access)
            return Answer(media_type, body=document)
        encoder = ENCODERS[media_type]
        running = await self._start(pid, options, encoder.regions, authorize, cancelled, access)
        if running.complete:
            # The whole answer fit in the first chunk (most processes): one plain answer with a
            # Content-Length costs far less than the streaming machinery.
            try:
                return Answer(media_type, body=running.first + encoder.trailer(running.scan))
            finally:
                running.close()
        return Answer(media_type, stream=stream_scan(running, encoder, shutdown=self.shutdown, access=access))

    async def _start(  # noqa: PLR0917 (private)
        self,
        pid: int,
        options: ScanOptions,
        encode: Encode,
        authorize: Authorize,
        cancelled: Awaitable[object] | None,
        access: ProcessAccess | None,
    ) -> RunningScan:
        return await start_scan(
            self.pool,
            pid,
            options,
            authorize=authorize,
            chunk_records=self.limits.chunk_records,
            timeout=self.limits.timeout_seconds,
            encode=encode,
            cancelled=cancelled,
            access=access,
        )

    async def _document(
        self,
        pid: int,
        options: ScanOptions,
        authorize: Authorize,
        cancelled: Awaitable[object] | None,
        access: ProcessAccess | None,
    ) -> bytes:
        """The whole answer as one JSON document (bounded: larger answers must stream)."""
        limit = self.limits.json_max_regions
        # A scan of at most N regions, or of at most N pages (each region has at least one), fits.
        fits = (options.vec_len is not None and options.vec_len <= limit) or 0 < options.max_pages <= limit
        if options.flags & ScanFlag.WP_MATCHING and not fits:
            # Scanning past the limit would write-protect pages that are then never reported.
            raise PayloadTooLarge(
                f"WP_MATCHING with application/json needs vec_len or max_pages <= {limit}; "
                "use application/x-ndjson or application/octet-stream for larger answers"
            )
        bounded = options if fits else replace(options, vec_len=limit + 1)
        running = await self._start(pid, bounded, json_region_list, authorize, cancelled, access)
        parts = [running.first]
        try:
            if not running.complete:
                while (chunk := await running.next_chunk()) is not None:
                    parts.append(chunk)
        finally:
            running.close()
            if access is not None:
                access.scanned(running.scan)
        scan = running.scan
        if not fits and scan.regions > limit:
            raise PayloadTooLarge(
                f"the answer has more than {limit} regions, the limit of application/json; "
                "use application/x-ndjson or application/octet-stream, or page with vec_len"
            )
        args = scan.args
        head = b'{"pid":%d,"start":%d,"end":%d,"walk_end":%d,"regions":[' % (
            pid,
            args.start,
            args.end,
            scan.walk_end,
        )
        # Each part ends with a comma; the last one's is dropped by a view: the regions, megabytes
        # of them, are copied once, into the document.
        last = next((i for i in range(len(parts) - 1, -1, -1) if parts[i]), None)
        pieces: list[bytes | memoryview] = [head, *parts]
        if last is not None:
            pieces[last + 1] = memoryview(parts[last])[:-1]
        pieces.append(b'],"pages":%d}' % scan.pages)
        return b"".join(pieces)


async def stream_scan(
    running: RunningScan,
    encoder: Encoder,
    *,
    shutdown: Shutdown | None = None,
    access: ProcessAccess | None = None,
) -> AsyncIterator[bytes]:
    """The body of a streamed answer: the chunks, then the trailer, or the error trailer (the
    stream has begun: errors are reported in-band, on ``access`` too). Frees the scan and its
    slot at the end, on error, and when the client goes away (the generator is closed)."""
    try:
        if running.first:
            yield running.first
        if not running.complete:
            while True:
                if shutdown is not None and shutdown.ending_streams:
                    yield _failed(encoder, shutdown.error(), access)
                    return
                try:
                    chunk = await running.next_chunk()
                except Exception as exc:
                    log.info("scan of %d ended with %r", running.scan.target.pid, exc)
                    yield _failed(encoder, exc, access)
                    return
                if chunk is None:
                    break
                yield chunk
        yield encoder.trailer(running.scan)
    finally:
        running.close()
        if access is not None:
            access.scanned(running.scan)


def _failed(encoder: Encoder, exc: Exception, access: ProcessAccess | None) -> bytes:
    if access is not None:
        access.error = exc
    return encoder.error(exc)


class RunningScan:
    """A scan whose first chunk is done (``first``, encoded). The rest comes from
    :meth:`next_chunk`; :meth:`close` frees the scan and its pool slot, once no scan thread is
    inside the scan any more. ``complete``: the first chunk was the whole answer."""

    def __init__(self, scan: Scan, lease: Lease, first: bytes, *, pool: ScanPool, encode: Encode) -> None:
        self.scan = scan
        self.lease = lease
        self.first = first
        self.complete = scan.done
        self._pool = pool
        self._encode = encode
        self._producer: ChunkProducer | None = None
        self._job: Job[None] | None = None
        self._closed = False

    async def next_chunk(self) -> bytes | None:
        """The next encoded chunk, or ``None`` once the scan is done; raises the scan's error.
        Calling it again says that the chunk it returned last has been sent."""
        if self._producer is None:
            self._producer = ChunkProducer(self.scan, self._encode, asyncio.get_running_loop())
            self._job = self._pool.submit(self._producer.run)
        else:
            self._producer.sent()
        item = await self._producer.next()
        if isinstance(item, _End):
            if item.error is not None:
                raise item.error
            return None
        return item

    def close(self) -> None:
        """Stop the producer after the chunk it is scanning, and free the scan and the slot when
        it has returned (at once without one). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._producer is not None:
            self._producer.stop()
        if self._job is not None:
            self._job.after(self._free)  # the thread may still be inside this scan
        else:
            self._free()

    def _free(self) -> None:
        self.scan.close()
        self.lease.release()


async def start_scan(
    pool: ScanPool,
    pid: int,
    options: ScanOptions,
    *,
    authorize: Authorize,
    chunk_records: int,
    timeout: float,
    encode: Encode,
    cancelled: Awaitable[object] | None = None,
    access: ProcessAccess | None = None,
) -> RunningScan:
    """Take a pool slot, open the target and scan the first chunk (raises domain errors).

    The scan must end within ``timeout`` seconds from now; ``authorize`` is applied to the
    process opened; ``cancelled`` ends the wait for a slot (see :meth:`.pool.ScanPool.lease`);
    ``access`` records the scan, on the event loop, once the scan thread has opened it (also
    when the first chunk then fails). ``encode`` (``None``: the records as they are) makes the
    chunks' bytes.
    """
    lease = await pool.lease(cancelled)
    opened: list[Scan] = []
    job: Job[bytes] | None = None
    try:
        deadline = time.monotonic() + timeout

        def open_and_scan_first_chunk() -> bytes:
            # One thread hop for both: for most processes the first chunk is the whole answer.
            opened.append(
                open_scan(pid, options, authorize=authorize, chunk_records=chunk_records, deadline=deadline)
            )
            records = opened[0].next_chunk()
            return records if encode is None else encode(records)

        def record() -> None:  # on the event loop, once the job has returned
            if access is not None and opened:
                access.scanned(opened[0])

        # Never on the event loop, however short the last one was: the kernel call takes the
        # target's mmap lock, which the target may hold for writing as long as it likes.
        job = pool.submit(open_and_scan_first_chunk)
        job.after(record)
        first = await job
        return RunningScan(opened[0], lease, first, pool=pool, encode=encode)
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
    """The rest of ``scan`` in one scan-thread job (:meth:`run`): each chunk handed to the event
    loop as soon as it is scanned, then an :class:`_End`; at most :data:`AHEAD` chunks the loop
    has not yet sent (:meth:`sent`). :meth:`stop` makes the job return after the chunk it is
    scanning, if any. The scan itself is touched by the thread alone until the end.

    With ``encode``, each chunk is encoded in :data:`_ENCODING` while the thread scans the next
    one; :meth:`next` waits for the encoding, in order, and a chunk that cannot be encoded ends
    the answer (an :class:`_End` with the error; the thread stops). The records of a chunk are a
    ``bytes`` of their own (immutable, never reused), so neither the encoding nor the sending
    of one chunk can see the next."""

    def __init__(self, scan: Scan, encode: Encode, loop: asyncio.AbstractEventLoop) -> None:
        self._scan = scan
        self._encode = encode
        self._loop = loop
        self._items: asyncio.Queue[bytes | Future[bytes] | _End] = asyncio.Queue()
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
                records = self._scan.next_chunk()
                self._hand(records if self._encode is None else _ENCODING.submit(self._encode, records))
        except Exception as exc:
            error = exc
        except BaseException as exc:
            error = RuntimeError(f"the scan thread stopped: {exc!r}")
            raise
        finally:
            self._hand(_End(error))

    async def next(self) -> bytes | _End:
        """The next chunk, or the end (on the loop)."""
        item = await self._items.get()
        if not isinstance(item, Future):
            return item
        try:
            return await asyncio.wrap_future(item)
        except Exception as exc:
            self.stop()
            return _End(exc)

    def sent(self) -> None:
        """A chunk has been sent: the thread may scan one more."""
        self._room.release()

    def stop(self) -> None:
        self._stopped.set()
        self._room.release()  # a thread waiting for room wakes and returns

    def _hand(self, item: bytes | Future[bytes] | _End) -> None:
        try:
            self._loop.call_soon_threadsafe(self._items.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is left to read
            log.debug("a scan chunk was ready after the event loop closed")
