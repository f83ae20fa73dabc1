"""POST /watch's answer: page counts on a schedule, one NDJSON line per tick.

Each tick takes a scan worker like any scan (it waits in the pool's queue, and may be
refused ``BUSY``) and gives it back at once: between ticks a watch holds only the target's
file descriptors and its connection. Each tick counts in the scan metrics (format
``watch``: :class:`Watches` hands each tick's access to its ``observe`` callback); the audit log
gets one line per watch (:mod:`.audit`: ``ticks`` and outcome).

The first tick is taken before the response starts, so that the errors a client can cause
(no such process, access denied, CHECK_WPASYNC, an unsupported category) get their HTTP
status. After that a failure ends the stream with the error line of ``/scan``'s NDJSON
(``EXITED`` when the target ends, ``ESHUTDOWN`` when the server stops). A client that
hangs up (its ``cancelled`` awaitable completes) ends the watch at once, also between ticks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from ..errors import code_of
from ..pagemap.categories import Category
from ..pagemap.policy import Authorize
from ..pagemap.session import ScanOptions, open_scan
from ..pagemap.summary import Counts
from ..pagemap.watch import Schedule, Tick, Watch
from .audit import ProcessAccess
from .encoders import NdjsonEncoder
from .pool import ClientGone, Job, ScanPool
from .scans import ScanLimits
from .shutdown import Shutdown

__all__ = ["Observe", "RunningWatch", "Watches", "tick_line"]

#: What is told of each tick's access once it is settled, with the error that ended it (the
#: metrics count each tick as a scan).
Observe = Callable[[ProcessAccess, BaseException | None], None]

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


class Watches:
    """Watches of processes in ``pool``, within ``limits``; ``observe`` is told of each tick."""

    def __init__(
        self, pool: ScanPool, shutdown: Shutdown, limits: ScanLimits, *, page_size: int, observe: Observe
    ) -> None:
        self.pool = pool
        self.shutdown = shutdown
        self.limits = limits
        self.page_size = page_size
        self.observe = observe

    async def watch(
        self,
        pid: int,
        options: ScanOptions,
        interval_seconds: float,
        count: int,
        *,
        authorize: Authorize,
        cancelled: Awaitable[object],
        access: ProcessAccess,
    ) -> AsyncIterator[bytes]:
        """Open ``pid``, as ``authorize`` allows, and take the first tick (raises the domain
        errors); then the stream of its NDJSON lines, from the first tick's to the trailer or
        an error line. ``cancelled`` completes when the client hangs up; ``access`` records the
        watch."""
        running = await self._start(pid, options, interval_seconds, count, authorize, cancelled, access)
        return self._stream(running, cancelled)

    async def _start(  # noqa: PLR0917 (private)
        self,
        pid: int,
        options: ScanOptions,
        interval_seconds: float,
        count: int,
        authorize: Authorize,
        cancelled: Awaitable[object],
        access: ProcessAccess,
    ) -> RunningWatch:
        limits = self.limits
        schedule = Schedule(time.monotonic(), interval_seconds, count)
        deadline = schedule.due(count) + limits.timeout_seconds
        ticks = _Ticks(self, cancelled, pid)
        opened: list[Watch] = []

        def open_and_tick() -> Tick:
            scan = open_scan(
                pid,
                options,
                authorize=authorize,
                chunk_records=limits.chunk_records,
                deadline=min(time.monotonic() + limits.timeout_seconds, deadline),
            )
            opened.append(Watch(scan, self.page_size, chunk_records=limits.chunk_records))
            return opened[0].tick()

        try:
            tick = await ticks.run(open_and_tick, opened=opened)
        except BaseException:
            if ticks.watch is not None:  # opened, and the first tick failed
                access.opened(ticks.watch.target)
            ticks.close()
            raise
        watch = ticks.watch
        assert watch is not None
        args = watch.args
        access.opened(watch.target)
        access.start, access.end, access.flags, access.ticks = args.start, args.end, int(args.flags), 1
        first = tick_line(tick, schedule.late(0, tick.ended))
        return RunningWatch(watch, ticks, schedule, first, access, deadline)

    async def _stream(self, running: RunningWatch, cancelled: Awaitable[object]) -> AsyncIterator[bytes]:
        """The body: the first tick's line, one line per further tick, then ``{"ticks": N}`` or
        an error line. Closes the watch at the end, however it ends."""
        watch, ticks, schedule = running.watch, running.ticks, running.schedule
        shutdown, limits = self.shutdown, self.limits
        gone = asyncio.ensure_future(cancelled)
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
                deadline = min(time.monotonic() + limits.timeout_seconds, running.deadline)
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


class _Ticks:
    """Runs ticks of one watch in the pool, each under a slot of its own, each counted in the
    metrics as a scan. ``job`` is the tick running in a worker, if any: what the watch uses
    may be closed only once it has returned (:meth:`close`). The watch itself is taken over on
    the event loop from the first tick's job (``opened``) once that has returned."""

    def __init__(self, watches: Watches, cancelled: Awaitable[object], pid: int) -> None:
        self.watches = watches
        self.cancelled = cancelled
        self.pid = pid
        self.watch: Watch | None = None
        self.job: Job[Tick] | None = None
        self.closed = False

    async def run(self, fn: Callable[[], Tick], *, opened: list[Watch] | None = None) -> Tick:
        """Run the tick ``fn`` under a slot of its own; ``opened``: where the first tick's job
        puts the watch it opens."""
        access = ProcessAccess("summary", self.pid, format="watch")
        pool = self.watches.pool
        outcome: BaseException | None = None
        lease = await pool.lease(self.cancelled)
        try:
            job = self.job = pool.submit(fn)
        except BaseException:
            lease.release()
            raise
        job.after(lease.release)  # when the worker is out of the scan, not when we stop waiting
        if opened is not None:
            job.after(lambda: self._adopt(opened))
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
            if self.watch is not None:
                access.scanned(self.watch.scan)
            access.finish()
            error = outcome if isinstance(outcome, Exception) else None
            if error is not None:
                access.settle(code_of(error))
            else:
                access.settle("ok" if outcome is None else "cancelled")
            self.watches.observe(access, error)

    def _adopt(self, opened: list[Watch]) -> None:  # on the loop, once the first tick returned
        if opened:
            if self.closed:
                opened[0].close()
            else:
                self.watch = opened[0]

    def close(self) -> None:
        """Close the watch, at once or when the tick running in a worker returns."""
        self.closed = True
        watch = self.watch
        if watch is None:
            return
        if self.job is not None:
            self.job.after(watch.close)
        else:
            watch.close()


def _failed(running: RunningWatch, exc: Exception) -> bytes:
    running.access.error = exc
    return _ENCODER.error(exc)
