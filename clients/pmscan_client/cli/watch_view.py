"""``pmscan watch PID``: the page counts of each tick and their rates, as they come.

On a terminal, a live table (rich ``Live``) keeps the latest ticks in view; elsewhere one
plain line per tick (``--json``: one JSON object per tick), flushed as each arrives, so
``pmscan watch … | tee`` and scripts see every tick when it happens.

The rate is of the ``pages`` column. With ``--written`` (``WP_MATCHING`` + ``WRITTEN``)
each tick counts the pages written since the previous one: the rate is those pages over
the time between the two ticks' scans, the dirty rate. Otherwise it is the change of the
count per second (the growth of ``--present`` pages, say). The first tick has no rate.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

from .. import Category, WatchTick
from .console import console_for, human_bytes
from .tables import stacked

__all__ = ["TickRow", "WatchView", "rate_of", "show_watch"]

#: The categories shown for an ordinary watch: the states of memory.
STATE_COLUMNS = (Category.PRESENT, Category.FILE, Category.SWAPPED, Category.PFNZERO, Category.HUGE)


def rate_of(previous: WatchTick | None, tick: WatchTick, *, written: bool) -> float | None:
    """Pages per second at ``tick`` (None for the first tick, or no time between the two)."""
    if previous is None or tick.time <= previous.time:
        return None
    seconds = tick.time - previous.time
    return (tick.pages if written else tick.pages - previous.pages) / seconds


@dataclass(frozen=True)
class TickRow:
    tick: WatchTick
    pages_per_second: float | None
    bytes_per_second: float | None

    def document(self) -> dict[str, Any]:
        """The ``--json`` line: the server's tick, with the rates."""
        tick = self.tick
        return {
            "tick": tick.tick,
            "time": tick.time,
            "late": tick.late,
            "pages": tick.pages,
            "categories": {c.name: n for c, n in tick.categories.items()},
            "pages_per_second": self.pages_per_second,
            "bytes_per_second": self.bytes_per_second,
            # A pod's or a container's tick: the processes counted, and those left out.
            **({} if tick.processes is None else {"processes": tick.processes, "skipped": tick.skipped}),
        }


class WatchView:
    """The rows of a watch so far (the latest ``keep`` of them)."""

    def __init__(self, page_size: int, *, written: bool, workload: bool = False, keep: int = 1000) -> None:
        self.page_size = page_size
        self.written = written
        #: A pod's or a container's watch: a ``processes`` column (those each tick counted).
        self.workload = workload
        self.columns: Sequence[Category] = (Category.WRITTEN,) if written else STATE_COLUMNS
        self.rows: deque[TickRow] = deque(maxlen=max(keep, 1))
        self._previous: WatchTick | None = None

    def add(self, tick: WatchTick) -> TickRow:
        rate = rate_of(self._previous, tick, written=self.written)
        row = TickRow(tick, rate, None if rate is None else rate * self.page_size)
        self._previous = tick
        self.rows.append(row)
        return row

    def headers(self) -> list[str]:
        """The columns' titles, each count's with its unit (pages) as the rates' have theirs."""
        pages = "written pages" if self.written else "pages"
        categories = [] if self.written else [f"{c.name} pages" for c in self.columns]
        processes = ["processes"] if self.workload else []
        return ["tick", "time", *processes, pages, *categories, "pages/s", "bytes/s", ""]

    def cells(self, row: TickRow) -> list[str]:
        tick = row.tick
        moment = datetime.fromtimestamp(tick.time).strftime("%H:%M:%S.%f")[:-3]
        categories = [] if self.written else [str(tick.categories.get(c, 0)) for c in self.columns]
        pages_rate = "-" if row.pages_per_second is None else f"{row.pages_per_second:,.1f}"
        bytes_rate = "-" if row.bytes_per_second is None else human_bytes(row.bytes_per_second) + "/s"
        processes = [str(tick.processes if tick.processes is not None else "-")] if self.workload else []
        return [
            str(tick.tick),
            moment,
            *processes,
            str(tick.pages),
            *categories,
            pages_rate,
            bytes_rate,
            "late" if tick.late else "",
        ]

    def table(self) -> Table:
        table = Table(box=box.SIMPLE_HEAD, expand=False)
        for index, header in enumerate(self.headers()):
            table.add_column(stacked(header), justify="left" if index == 1 else "right", no_wrap=True)
        for row in self.rows:
            table.add_row(*self.cells(row), style="yellow" if row.tick.late else None)
        return table

    def plain_line(self, cells: Iterable[str]) -> str:
        processes = [9] if self.workload else []
        least = [5, 12, *processes, 10, *(10 for _ in self.columns if not self.written), 12, 14, 4]
        widths = [max(width, len(header)) for width, header in zip(least, self.headers(), strict=True)]
        parts = [
            c.ljust(w) if i == 1 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip() + "\n"


def show_watch(
    ticks: Iterable[WatchTick],
    view: WatchView,
    out: TextIO,
    *,
    as_json: bool,
    title: str,
    console: Console | None = None,
) -> int:
    """Print each tick as it arrives; return how many came. Nothing is printed before the first
    tick: a watch the node refuses (no such process, say) prints its error alone."""
    count = 0
    ticks = iter(ticks)
    first = next(ticks, None)  # the request is sent here: it may raise
    if first is None:
        return 0
    ticks = itertools.chain([first], ticks)
    if as_json:
        for tick in ticks:
            out.write(json.dumps(view.add(tick).document()) + "\n")
            out.flush()
            count += 1
        return count
    console = console or console_for(out)
    if not console.is_terminal:
        out.write(view.plain_line(view.headers()))
        for tick in ticks:
            out.write(view.plain_line(view.cells(view.add(tick))))
            out.flush()
            count += 1
        return count
    view.rows = deque(maxlen=max(console.height - 8, 3))
    console.print(title, style="bold", markup=False)  # once: the live table below it changes width
    with Live(view.table(), console=console, auto_refresh=False, transient=False) as live:
        for tick in ticks:
            view.add(tick)
            live.update(view.table(), refresh=True)
            count += 1
    return count
