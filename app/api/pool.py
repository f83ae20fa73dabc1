"""A bounded pool of scan threads with admission control instead of a queue.

The C layer releases the GIL around the ioctl, so scans in different threads run in
parallel. A request that finds every slot taken is refused at once (503 with
Retry-After) rather than queued: a node agent must not pile up work it cannot do.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["Busy", "Lease", "ScanPool"]

T = TypeVar("T")


class Busy(Exception):
    """Every scan slot is taken."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("all scan workers are busy; retry later")
        self.retry_after = retry_after


class Lease:
    """One slot of the pool, held from admission until the scan's last step is done."""

    def __init__(self, pool: ScanPool) -> None:
        self._pool = pool
        self._released = False

    def release(self) -> None:
        """Give the slot back (idempotent; callable from any thread)."""
        with self._pool._lock:
            if not self._released:
                self._released = True
                self._pool._in_use -= 1


class ScanPool:
    def __init__(self, workers: int, *, retry_after: int = 1) -> None:
        self.size = workers
        self.retry_after = retry_after
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pmscan-scan")
        self._lock = threading.Lock()
        self._in_use = 0
        self.rejected = 0

    @property
    def in_use(self) -> int:
        return self._in_use

    def lease(self) -> Lease:
        """A slot, or ``Busy`` when all are taken."""
        with self._lock:
            if self._in_use >= self.size:
                self.rejected += 1
                raise Busy(self.retry_after)
            self._in_use += 1
        return Lease(self)

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        return self._executor.submit(fn)

    async def run_leased(self, fn: Callable[[], T]) -> T:
        """Take a slot (``Busy`` when none is free), run ``fn`` in a scan thread, and give
        the slot back when ``fn`` has returned — not when the caller stops waiting."""
        lease = self.lease()
        try:
            future = self.submit(fn)
        except BaseException:
            lease.release()
            raise
        future.add_done_callback(lambda _: lease.release())
        return await asyncio.wrap_future(future)

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a scan thread (the caller holds a lease)."""
        return await asyncio.wrap_future(self.submit(fn))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
