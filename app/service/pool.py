"""A bounded pool of scan threads, with a short, bounded queue in front of it.

The C layer releases the GIL around the ioctl, so scans in different threads run in
parallel. Work is admitted by *slots* (:class:`Lease`), one per thread: a request that finds
every slot taken waits for one, in arrival order — but only while fewer than
``queue_limit`` requests are waiting and for at most ``queue_seconds``. Past either bound
it is refused (``Busy``: 503 with Retry-After): a node agent must not pile up work it
cannot do. A waiting request leaves the queue at once when its ``cancelled`` awaitable
completes (the HTTP layer's: the client went away).

The threads are plain ones, each waiting on a ``SimpleQueue`` of its own, and handing results
back with one ``call_soon_threadsafe``: for the scan of a small process the hop there and back is
most of the cost, and ``concurrent.futures`` with ``asyncio.wrap_future`` doubles it. A job goes
to the thread that went idle last (its caches are the warmest), and wakes that thread alone: with
one queue shared by every thread, the thread that takes a job wakes the next waiting one on its
way out (CPython's ``SimpleQueue.get`` hands its lock on), which then contends for the GIL with the
scan and goes back to sleep — a third thread wake-up per job. Slots and idle threads are counted
on the event loop's thread only; a thread that ends a job hands its bookkeeping to the loop.

Even so, the hop costs about as much CPU as the scan of a small process (two thread
wake-ups). Every kernel call on a target still runs in a thread, however short the last one
was: it takes the target's mmap lock, which a writer in the target (``fork``, ``mprotect`` of
a large range, a fault stuck on a hung filesystem) can hold for as long as it likes, and on
the event loop that wait would stop the whole server, ``/healthz`` included.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from queue import SimpleQueue
from typing import Any, Generic, TypeVar

from ..errors import PmscanError

__all__ = ["Busy", "ClientGone", "Job", "Lease", "ScanPool"]

T = TypeVar("T")

log = logging.getLogger("pmscan")


class Busy(PmscanError):
    """Every scan worker is busy (see Retry-After): the queue is full or was waited in too long."""

    status = 503
    code = "BUSY"

    def __init__(self, retry_after: int) -> None:
        super().__init__("all scan workers are busy; retry later")
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ClientGone(PmscanError):
    """The client closed its connection while its request waited for a slot."""

    status = 499  # nginx's "client closed request": for the metrics, nobody receives it
    code = "CLIENT_GONE"

    def __init__(self) -> None:
        super().__init__("the client went away while the request waited for a scan worker")


class Lease:
    """One slot of the pool, held from admission until the scan's last step is done."""

    def __init__(self, pool: ScanPool) -> None:
        self._pool = pool
        self._released = False

    def release(self) -> None:
        """Give the slot back (idempotent; callable from any thread)."""
        if self._released:
            return
        self._released = True
        self._pool._release_soon()


class Job(Generic[T]):
    """``fn`` running in a scan thread; awaitable for its result.

    Cancelling the awaiting task does not stop ``fn`` (a kernel call is never cut short):
    :meth:`after` runs a callback on the event loop once ``fn`` has really returned — where
    whatever ``fn`` uses may be closed.
    """

    __slots__ = ("_after", "_done", "_fn", "_loop", "_worker", "future")

    def __init__(
        self, fn: Callable[[], T], loop: asyncio.AbstractEventLoop, worker: _Worker | None = None
    ) -> None:
        self._fn = fn
        self._loop = loop
        self._worker = worker
        self._done = False
        self._after: list[Callable[[], None]] = []
        self.future: asyncio.Future[T] = loop.create_future()

    def after(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` on the event loop when ``fn`` has returned (now if it has)."""
        if self._done:
            callback()
        else:
            self._after.append(callback)

    def __await__(self) -> Generator[Any, None, T]:
        return self.future.__await__()

    def _run(self) -> None:  # in a scan thread
        try:
            result: T | None = self._fn()
            error: BaseException | None = None
        except BaseException as exc:
            result, error = None, exc
        try:
            self._loop.call_soon_threadsafe(self._finish, result, error)
        except RuntimeError:  # the loop is closed: nobody is left to tell
            log.debug("a scan job finished after the event loop closed")

    def _finish(self, result: T | None, error: BaseException | None) -> None:  # on the loop
        self._done = True
        if self._worker is not None:
            self._worker.done()  # before the callbacks: a slot they free finds the thread idle
        future = self.future
        if not future.done():
            if error is None:
                future.set_result(result)  # type: ignore[arg-type]
            else:
                future.set_exception(error)
        elif error is not None and not isinstance(error, Exception):
            log.error("a scan job ended with %r after its caller stopped waiting", error)
        for callback in self._after:
            callback()
        self._after.clear()


class _Worker:
    """One scan thread and the queue of its jobs (one at a time, and ``None`` to stop)."""

    __slots__ = ("jobs", "pool", "thread")

    def __init__(self, pool: ScanPool, name: str) -> None:
        self.pool = pool
        self.jobs: SimpleQueue[Job[Any] | None] = SimpleQueue()
        self.thread = threading.Thread(target=self._work, name=name, daemon=True)

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            job._run()

    def done(self) -> None:  # on the loop: the thread has returned from its job
        self.pool._idle_worker(self)


class ScanPool:
    """``workers`` scan threads and as many slots; ``queue_limit`` requests may wait up to
    ``queue_seconds`` for a slot (``queue_limit`` 0: none wait)."""

    def __init__(
        self,
        workers: int,
        *,
        retry_after: int = 1,
        queue_limit: int = 0,
        queue_seconds: float = 1.0,
    ) -> None:
        self.size = workers
        self.retry_after = retry_after
        self.queue_limit = queue_limit
        self.queue_seconds = queue_seconds
        self.rejected = 0
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = -1
        self._workers = [_Worker(self, f"pmscan-scan-{n}") for n in range(workers)]
        #: Threads without a job, the one that went idle last at the end.
        self._idle = list(reversed(self._workers))
        #: Jobs submitted while every thread had one (not while each job holds a slot).
        self._pending: deque[Job[Any]] = deque()
        for worker in self._workers:
            worker.thread.start()

    @property
    def in_use(self) -> int:
        """Slots taken (by running scans, and by scans between two chunks)."""
        return self._in_use

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        return len(self._waiters)

    # -- slots (on the event loop) ---------------------------------------------------------------

    async def lease(self, cancelled: Awaitable[object] | None = None) -> Lease:
        """A slot: at once when one is free, else after waiting in the queue. ``Busy`` when the
        queue is full or the wait too long; ``ClientGone`` when ``cancelled`` completes
        meanwhile (it is awaited only while waiting, in a task of its own, cancelled after)."""
        self._bind()
        if self._in_use < self.size and not self._waiters:
            self._in_use += 1
            return Lease(self)
        if len(self._waiters) >= self.queue_limit:
            self.rejected += 1
            raise Busy(self.retry_after)
        assert self._loop is not None
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(waiter)
        watcher = asyncio.ensure_future(cancelled) if cancelled is not None else None
        if watcher is not None:
            watcher.add_done_callback(lambda _: waiter.cancel())
        granted = False
        try:
            async with asyncio.timeout(self.queue_seconds):
                await waiter
            granted = True
        except TimeoutError:
            self.rejected += 1
            raise Busy(self.retry_after) from None
        except asyncio.CancelledError:
            if watcher is not None and watcher.done() and not watcher.cancelled():
                raise ClientGone() from None
            raise
        finally:
            if watcher is not None:
                watcher.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif not granted and waiter.done() and not waiter.cancelled():
                # Handed a slot at the last moment (the timeout or a cancellation came first):
                # pass it on.
                self._release()
        return Lease(self)

    def _bind(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._loop_thread = threading.get_ident()

    def _release_soon(self) -> None:
        if threading.get_ident() == self._loop_thread:
            self._release()
        elif self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        """A slot comes free: to the first request still waiting, else back to the pool."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on; in_use is unchanged
                return
        self._in_use -= 1

    # -- jobs ------------------------------------------------------------------------------------

    def submit(self, fn: Callable[[], T]) -> Job[T]:
        """Run ``fn`` in a scan thread (the caller holds a lease)."""
        loop = asyncio.get_running_loop()
        if not self._idle:
            job = Job(fn, loop)
            self._pending.append(job)
            return job
        worker = self._idle.pop()
        job = Job(fn, loop, worker)
        worker.jobs.put(job)
        return job

    def _idle_worker(self, worker: _Worker) -> None:
        """``worker`` has finished its job: the next pending job, or back to the idle ones."""
        if self._pending:
            job = self._pending.popleft()
            job._worker = worker
            worker.jobs.put(job)
        else:
            self._idle.append(worker)

    async def run_leased(
        self,
        fn: Callable[[], T],
        cancelled: Awaitable[object] | None = None,
        *,
        after: Callable[[], None] | None = None,
    ) -> T:
        """Take a slot (see :meth:`lease`), run ``fn`` in a scan thread, and give the slot back
        when ``fn`` has returned — not when the caller stops waiting. ``after`` is called on the
        event loop then too (before the caller resumes, if it still waits), whether ``fn``
        returned or raised: where what ``fn`` left behind is taken over."""
        lease = await self.lease(cancelled)
        try:
            job = self.submit(fn)
        except BaseException:
            lease.release()
            raise
        job.after(lease.release)
        if after is not None:
            job.after(after)
        return await job

    def shutdown(self) -> None:
        """Let the threads finish the jobs already submitted, then stop them."""
        for n, job in enumerate(self._pending):
            self._workers[n % len(self._workers)].jobs.put(job)
        self._pending.clear()
        for worker in self._workers:
            worker.jobs.put(None)
        for worker in self._workers:
            worker.thread.join()
