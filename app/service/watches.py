"""POST /watch's answer: page counts on a schedule, one NDJSON line per tick.

Each tick takes a scan worker like any scan (it waits in the pool's queue, and may be
refused ``BUSY``) and gives it back at once: between ticks a watch holds only the target's
file descriptors and its connection. Each tick counts in the scan metrics (format
``watch``); the audit log gets one line per watch (app.api.audit: ``ticks`` and outcome).

The first tick is taken before the response starts, so that the errors a client can cause
(no such process, access denied, CHECK_WPASYNC, an unsupported category) get their HTTP
status. After that a failure ends the stream with the error line of ``/scan``'s NDJSON
(``EXITED`` when the target ends, ``ESHUTDOWN`` when the server stops). A client that
hangs up ends the watch at once, also between ticks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial

from starlette.types import Receive

from ..errors import code_of
from ..pagemap.categories import Category
from ..pagemap.policy import Authorize
from ..pagemap.session import open_scan
from ..pagemap.summary import Counts
from ..pagemap.watch import Schedule, Tick, Watch
from .audit import ProcessAccess
from .deps import Services
from .formats import NdjsonEncoder
from .pool import ClientGone, Job, client_gone
from .schemas import WatchRequest

__all__ = ["RunningWatch", "start_watch", "stream_watch"]

#: How often a watch waiting for its next tick looks whether the server is stopping.
SHUTDOWN_POLL_SECONDS = 0.1
_ENCODER = NdjsonEncoder()


@dataclass
class RunningWatch:
    """A watch whose first tick is done (``first``: its line)."""

    watch: Watch
    ticks: _Ticks
    schedule: Schedule
    first: bytes
    access: ProcessAccess
    #: When the watch must be over: its last tick due, plus one scan's time limit.
    deadline: float


def _named(counts: Counts) -> dict[str, int]:
    return {Category(c).name or str(c): n for c, n in sorted(counts.by_category.items())}


def tick_line(tick: Tick, late: bool) -> bytes:
    """One ``WatchTick`` NDJSON line."""
    line = {
        "tick": tick.index,
        "time": round(tick.time, 6),
        "late": late,
        "pages": tick.counts.pages,
        "categories": _named(tick.counts),
    }
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


class _Ticks:
    """Runs ticks of one watch in the pool, each under a slot of its own, each counted in the
    metrics as a scan. ``job`` is the tick running in a worker, if any: what the watch uses
    may be closed only once it has returned (:meth:`close`)."""

    def __init__(self, services: Services, receive: Receive, pid: int) -> None:
        self.services = services
        self.receive = receive
        self.pid = pid
        self.watch: Watch | None = None
        self.job: Job[Tick] | None = None

    async def run(self, fn: Callable[[], Tick]) -> Tick:
        access = ProcessAccess("summary", self.pid, format="watch")
        pool = self.services.pool
        outcome: BaseException | None = None
        lease = await pool.lease(self.receive)
        try:
            job = self.job = pool.submit(fn)
        except BaseException:
            lease.release()
            raise
        job.after(lease.release)  # when the worker is out of the scan, not when we stop waiting
        try:
            tick = await job
        except BaseException as exc:
            outcome = exc
            raise
        else:
            self.job = None
            return tick
        finally:
            # Counted like a scan: its duration, regions and pages, or its error (also when
            # the target could not even be opened).
            access.scan = self.watch.scan if self.watch is not None else None
            access.finish()
            error = outcome if isinstance(outcome, Exception) else None
            if error is not None:
                access.settle(code_of(error))
            else:
                access.settle("ok" if outcome is None else "cancelled")
            self.services.metrics.observe_access(access, error)

    def close(self) -> None:
        """Close the watch, at once or when the tick running in a worker returns."""
        watch = self.watch
        if watch is None:
            return
        if self.job is not None:
            self.job.after(watch.close)
        else:
            watch.close()


async def start_watch(
    body: WatchRequest, receive: Receive, services: Services, access: ProcessAccess, authorize: Authorize
) -> RunningWatch:
    """Open the target, as ``authorize`` allows, and take the first tick (raises the domain
    errors)."""
    settings = services.settings
    schedule = Schedule(time.monotonic(), body.interval_seconds, body.count)
    deadline = schedule.due(body.count) + settings.scan_timeout_seconds
    options = body.options()
    ticks = _Ticks(services, receive, body.pid)

    def open_and_tick() -> Tick:
        scan = open_scan(
            body.pid,
            options,
            authorize=authorize,
            chunk_records=settings.chunk_records,
            deadline=min(time.monotonic() + settings.scan_timeout_seconds, deadline),
        )
        watch = ticks.watch = Watch(scan, services.kernel.page_size, chunk_records=settings.chunk_records)
        access.target = watch.target
        return watch.tick()

    try:
        tick = await ticks.run(open_and_tick)
    except BaseException:
        ticks.close()
        raise
    watch = ticks.watch
    assert watch is not None
    args = watch.args
    access.start, access.end, access.flags, access.ticks = args.start, args.end, int(args.flags), 1
    first = tick_line(tick, schedule.late(0, tick.ended))
    return RunningWatch(watch, ticks, schedule, first, access, deadline)


async def stream_watch(running: RunningWatch, receive: Receive) -> AsyncIterator[bytes]:
    """The body: the first tick's line, one line per further tick, then ``{"ticks": N}`` or
    an error line. Closes the watch at the end, however it ends."""
    watch, ticks, schedule = running.watch, running.ticks, running.schedule
    shutdown, settings = ticks.services.shutdown, ticks.services.settings
    gone = asyncio.ensure_future(client_gone(receive))
    try:
        yield running.first
        for index in range(1, schedule.count):
            while (wait := schedule.due(index) - time.monotonic()) > 0 and not shutdown.ending_streams:
                done, _ = await asyncio.wait({gone}, timeout=min(wait, SHUTDOWN_POLL_SECONDS))
                if done:
                    return  # the client hung up: nothing more to send, nobody to send it to
            if shutdown.ending_streams:
                yield _failed(running, shutdown.error())
                return
            deadline = min(time.monotonic() + settings.scan_timeout_seconds, running.deadline)
            try:
                tick = await ticks.run(partial(watch.tick, deadline=deadline))
            except ClientGone:
                return
            except Exception as exc:  # the stream has begun: report in-band
                yield _failed(running, exc)
                return
            running.access.ticks = watch.ticks
            yield tick_line(tick, schedule.late(index, tick.ended))
        yield b'{"ticks":%d}\n' % watch.ticks
    finally:
        gone.cancel()
        ticks.close()


def _failed(running: RunningWatch, exc: Exception) -> bytes:
    running.access.error = exc
    return _ENCODER.error(exc)
