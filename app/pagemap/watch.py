"""Page counts of one process over time: a schedule of ticks, each one whole scan.

The process is opened once, for the whole watch: every tick scans the very process the
first one did (a pid reused meanwhile is never watched by mistake), and a tick after it
exits raises ``ProcessGone``. Each tick is a fresh :class:`~app.pagemap.scanner.Scan` over
the same arguments; with ``WP_MATCHING`` it write-protects what it counts, so that with
``category_mask=WRITTEN`` on a userfaultfd-WP-async range each tick counts the pages written
since the previous one.

The schedule has no drift: tick ``i`` is due at ``start + i * interval``, whatever the
earlier ticks took. A tick still running when the next is due is *late*; the next then starts
as soon as it ends (never skipped, never merged with it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .scanner import Scan
from .summary import Counts, summarize

__all__ = ["Schedule", "Tick", "Watch"]


@dataclass(frozen=True)
class Schedule:
    """``count`` ticks, ``interval`` seconds apart from ``start`` (``time.monotonic()``)."""

    start: float
    interval: float
    count: int

    def due(self, tick: int) -> float:
        """When tick ``tick`` (0-based) is due; ``due(count)`` is when the watch is over."""
        return self.start + tick * self.interval

    def late(self, tick: int, ended: float) -> bool:
        """Whether tick ``tick``, over at ``ended``, overran into the next one's time."""
        return ended > self.due(tick + 1)


@dataclass(frozen=True)
class Tick:
    """One tick's counts: taken from ``time`` (UNIX seconds) until ``ended`` (monotonic). A tick
    of several processes (a workload's) says how many it counted (``processes``) and how many it
    had to leave out (``skipped``); its ``walk_end`` means nothing (0)."""

    index: int
    time: float
    ended: float
    walk_end: int
    counts: Counts
    processes: int | None = None
    skipped: int | None = None


class Watch:
    """Ticks of the scan ``first`` (from ``open_scan``, not yet run): its target, arguments and
    backend are used by every tick. :meth:`tick` blocks (run it in a worker thread); close
    the watch when done (it closes the target)."""

    def __init__(self, first: Scan, page_size: int, *, chunk_records: int) -> None:
        self.target = first.target
        self.args = first.args
        self.backend = first.backend
        self.page_size = page_size
        self.ticks = 0
        #: The scan of the latest tick (also of one that failed), for the caller's bookkeeping.
        self.scan = first
        self._chunk_records = chunk_records
        self._next: Scan | None = first

    def tick(self, *, deadline: float | None = None) -> Tick:
        """Scan once and count (``deadline``: as :class:`Scan`'s). Raises the scan's errors;
        ``ProcessGone`` once the target has exited."""
        scan = self._next or Scan(
            self.target, self.args, self.backend, chunk_records=self._chunk_records, deadline=deadline
        )
        self._next = None
        self.scan = scan
        started = time.time()
        summary = summarize(scan, self.page_size)
        tick = Tick(self.ticks, started, time.monotonic(), summary.walk_end, summary.total)
        self.ticks += 1
        return tick

    def close(self) -> None:
        self.target.close()
