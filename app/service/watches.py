"""POST /watch's answer: page counts on a schedule, one NDJSON line per tick.

A watch follows one process, or a workload: a container, or every container of a pod.

Each tick takes a scan worker like any scan (it waits in the pool's queue, and may be
refused ``BUSY``) and gives it back at once: between ticks a watch holds only the target's
file descriptors (a process watch) and its connection. Each tick counts in the scan metrics
(format ``watch``: :class:`Watches` hands each process's access of each tick to its ``observe``
callback); the audit log gets one line per watched process (:mod:`.audit`: ``ticks`` and
outcome).

A process watch opens its process once, so every tick counts that very process. A workload's
tick finds the processes the workload has at that tick and counts each (opened for that tick
alone): one that started since the previous tick is counted, one that exited is not, one that
exits during the tick is left out (``skipped``), and the tick line says how many it counted
(``processes``). A workload left with no process has ticks of no pages: a restarting container
comes back.

The first tick is taken before the response starts, so that the errors a client can cause
(no such process or workload, access denied, CHECK_WPASYNC, an unsupported category) get their
HTTP status. After that a failure ends the stream with the error line of ``/scan``'s NDJSON
(``EXITED`` when a watched process ends, ``ESHUTDOWN`` when the server stops). A client that
hangs up (its ``cancelled`` awaitable completes) ends the watch at once, also between ticks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from ..errors import code_of
from ..pagemap.categories import Category
from ..pagemap.cgroups import ContainerSelector
from ..pagemap.policy import Authorize
from ..pagemap.processes import find_workload, list_containers
from ..pagemap.scanner import Scan
from ..pagemap.session import ScanOptions, open_scan
from ..pagemap.summary import Counts
from ..pagemap.watch import Schedule, Tick, Watch
from .audit import ProcessAccess
from .encoders import NdjsonEncoder
from .pool import ClientGone, Job, ScanPool
from .scans import ScanLimits
from .shutdown import Shutdown
from .summaries import Member, Track, summarize_members

__all__ = ["Observe", "RunningWatch", "Watches", "tick_line"]

#: What is told of each tick's access once it is settled, with the error that ended it (the
#: metrics count each tick as a scan).
Observe = Callable[[ProcessAccess, BaseException | None], None]

#: How often a watch waiting for its next tick looks whether the server is stopping.
SHUTDOWN_POLL_SECONDS = 0.1
_ENCODER = NdjsonEncoder()


class _Runner(Protocol):
    """Runs the ticks of one watch, each in the pool under a slot of its own."""

    @property
    def ticks(self) -> int:
        """Ticks done."""
        ...

    async def run(self, deadline: float) -> Tick:
        """The next tick (``deadline``: ``time.monotonic()`` by which it must be over)."""
        ...

    def failed(self, exc: Exception) -> None:
        """The watch ended with ``exc``, in-band."""
        ...

    def close(self) -> None:
        """Release what the watch holds, at once or when the tick running in a worker returns."""
        ...


@dataclass
class RunningWatch:
    """A watch whose first tick is done (``first``: its line)."""

    runner: _Runner
    schedule: Schedule
    first: bytes
    #: When the watch must be over: its last tick due, plus one scan's time limit.
    deadline: float


def _named(counts: Counts) -> dict[str, int]:
    return {Category(c).name or str(c): n for c, n in sorted(counts.by_category.items())}


def tick_line(tick: Tick, late: bool) -> bytes:
    """One ``WatchTick`` NDJSON line."""
    line: dict[str, object] = {"tick": tick.index, "time": round(tick.time, 6), "late": late}
    if tick.processes is not None:
        line["processes"] = tick.processes
        line["skipped"] = tick.skipped
    line["pages"] = tick.counts.pages
    line["categories"] = _named(tick.counts)
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
        schedule, deadline = self._schedule(interval_seconds, count)
        runner = _ProcessTicks(self, cancelled, pid, options, authorize, access)
        try:
            tick = await runner.start(deadline)
        except BaseException:
            runner.close()
            raise
        first = tick_line(tick, schedule.late(0, tick.ended))
        return self._stream(RunningWatch(runner, schedule, first, deadline), cancelled)

    async def watch_workload(
        self,
        selector: ContainerSelector,
        options: ScanOptions,
        interval_seconds: float,
        count: int,
        *,
        authorize: Authorize,
        cancelled: Awaitable[object],
        track: Track,
    ) -> AsyncIterator[bytes]:
        """Take the first tick of the processes of the container or pod ``selector`` names, as
        ``authorize`` allows (raises ``ContainerNotFound``, ``PodNotFound``,
        ``AmbiguousContainer`` and the errors that concern the request rather than one
        process); then the stream of its NDJSON lines. Each process's access is recorded, for
        the whole watch, on what ``track(pid)`` returns the first time it is counted."""
        schedule, deadline = self._schedule(interval_seconds, count)
        runner = _WorkloadTicks(self, cancelled, selector, options, authorize, track)
        tick = await runner.run(min(time.monotonic() + self.limits.timeout_seconds, deadline))
        first = tick_line(tick, schedule.late(0, tick.ended))
        return self._stream(RunningWatch(runner, schedule, first, deadline), cancelled)

    def _schedule(self, interval_seconds: float, count: int) -> tuple[Schedule, float]:
        schedule = Schedule(time.monotonic(), interval_seconds, count)
        return schedule, schedule.due(count) + self.limits.timeout_seconds

    async def _stream(self, running: RunningWatch, cancelled: Awaitable[object]) -> AsyncIterator[bytes]:
        """The body: the first tick's line, one line per further tick, then ``{"ticks": N}`` or
        an error line. Closes the watch at the end, however it ends."""
        runner, schedule = running.runner, running.schedule
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
                    yield _failed(runner, shutdown.error())
                    return
                deadline = min(time.monotonic() + limits.timeout_seconds, running.deadline)
                try:
                    tick = await runner.run(deadline)
                except ClientGone:
                    return
                except Exception as exc:  # the stream has begun: report in-band
                    yield _failed(runner, exc)
                    return
                yield tick_line(tick, schedule.late(index, tick.ended))
            yield b'{"ticks":%d}\n' % runner.ticks
        finally:
            gone.cancel()
            runner.close()


def _failed(runner: _Runner, exc: Exception) -> bytes:
    runner.failed(exc)
    return _ENCODER.error(exc)


def _observe_tick(watches: Watches, access: ProcessAccess, outcome: BaseException | None) -> None:
    """Count one process's tick in the metrics, like a scan: its duration, regions and pages,
    or its error (also when the process could not even be opened)."""
    access.finish()
    error = outcome if isinstance(outcome, Exception) else None
    if error is not None:
        access.settle(code_of(error))
    else:
        access.settle("ok" if outcome is None else "cancelled")
    watches.observe(access, error)


class _ProcessTicks:
    """The ticks of one process's watch, each under a slot of its own. ``job`` is the tick
    running in a worker, if any: what the watch uses may be closed only once it has returned
    (:meth:`close`). The watch itself is taken over on the event loop from the first tick's job
    once that has returned."""

    def __init__(  # noqa: PLR0917 (private)
        self,
        watches: Watches,
        cancelled: Awaitable[object],
        pid: int,
        options: ScanOptions,
        authorize: Authorize,
        access: ProcessAccess,
    ) -> None:
        self.watches = watches
        self.cancelled = cancelled
        self.pid = pid
        self.options = options
        self.authorize = authorize
        self.access = access
        self.watch: Watch | None = None
        self.job: Job[Tick] | None = None
        self.closed = False

    @property
    def ticks(self) -> int:
        return self.watch.ticks if self.watch is not None else 0

    async def start(self, deadline: float) -> Tick:
        """Open the process and take the first tick (raises the domain errors); ``deadline``:
        the whole watch's."""
        limits, access = self.watches.limits, self.access
        opened: list[Watch] = []

        def open_and_tick() -> Tick:
            scan = open_scan(
                self.pid,
                self.options,
                authorize=self.authorize,
                chunk_records=limits.chunk_records,
                deadline=min(time.monotonic() + limits.timeout_seconds, deadline),
            )
            opened.append(Watch(scan, self.watches.page_size, chunk_records=limits.chunk_records))
            return opened[0].tick()

        try:
            tick = await self._run(open_and_tick, opened=opened)
        except BaseException:
            if self.watch is not None:  # opened, and the first tick failed
                access.opened(self.watch.target)
            raise
        watch = self.watch
        assert watch is not None
        args = watch.args
        access.opened(watch.target)
        access.start, access.end, access.flags, access.ticks = args.start, args.end, int(args.flags), 1
        return tick

    async def run(self, deadline: float) -> Tick:
        watch = self.watch
        assert watch is not None
        tick = await self._run(partial(watch.tick, deadline=deadline))
        self.access.ticks = watch.ticks
        return tick

    def failed(self, exc: Exception) -> None:
        self.access.error = exc

    async def _run(self, fn: Callable[[], Tick], *, opened: list[Watch] | None = None) -> Tick:
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
            if self.watch is not None:
                access.scanned(self.watch.scan)
            _observe_tick(self.watches, access, outcome)

    def _adopt(self, opened: list[Watch]) -> None:  # on the loop, once the first tick returned
        if opened:
            if self.closed:
                opened[0].close()
            else:
                self.watch = opened[0]

    def close(self) -> None:
        self.closed = True
        watch = self.watch
        if watch is None:
            return
        if self.job is not None:
            self.job.after(watch.close)
        else:
            watch.close()


class _WorkloadTicks:
    """The ticks of a workload's watch, each under a slot of its own: each finds the workload's
    processes (the first one raises when it has none) and counts each, opened for that tick."""

    def __init__(  # noqa: PLR0917 (private)
        self,
        watches: Watches,
        cancelled: Awaitable[object],
        selector: ContainerSelector,
        options: ScanOptions,
        authorize: Authorize,
        track: Track,
    ) -> None:
        self.watches = watches
        self.cancelled = cancelled
        self.selector = selector
        self.options = options
        self.authorize = authorize
        self.track = track
        self.ticks = 0
        #: The audit record of each process counted so far, by pid: one per process per watch.
        self.accesses: dict[int, ProcessAccess] = {}

    async def run(self, deadline: float) -> Tick:
        watches, index = self.watches, self.ticks
        limits, page_size = watches.limits, watches.page_size
        members: list[Member] = []

        def open_one(pid: int) -> Scan:
            return open_scan(
                pid,
                self.options,
                authorize=self.authorize,
                chunk_records=limits.chunk_records,
                deadline=deadline,
            )

        def job() -> Tick:
            started = time.time()
            containers = find_workload(self.selector) if index == 0 else list_containers(self.selector)
            pids = sorted({pid for container in containers for pid in container.pids})
            processes, skipped, total = summarize_members(
                pids, open_one, page_size, by_vma=False, members=members
            )
            return Tick(index, started, time.monotonic(), 0, total, len(processes), len(skipped))

        def record() -> None:  # on the event loop, once the job has returned
            for member in members:
                tick_access = ProcessAccess("summary", member.pid, format="watch", started=member.started)
                tick_access.ended = member.ended
                if member.scan is not None:
                    tick_access.scanned(member.scan)
                _observe_tick(watches, tick_access, member.error)
                access = self.accesses.get(member.pid)
                if access is None:
                    access = self.accesses[member.pid] = self.track(member.pid)
                    access.ticks = 0
                if member.scan is not None:
                    access.scanned(member.scan)
                access.error = member.error
                access.ticks = (access.ticks or 0) + (member.error is None)

        tick = await watches.pool.run_leased(job, self.cancelled, after=record)
        self.ticks += 1
        return tick

    def failed(self, exc: Exception) -> None:
        for access in self.accesses.values():
            access.error = exc

    def close(self) -> None:
        pass  # nothing is held between ticks
