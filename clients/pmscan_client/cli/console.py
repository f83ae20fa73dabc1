"""Where the ``pmscan`` command draws: a rich ``Console`` on a terminal, plain text elsewhere.

On a terminal: colours, tables with rules, live views, at the terminal's width. Anywhere
else (a pipe, a file, ``--json``): no colour and no escape sequences, tables as columns of
text separated by spaces, never wrapped or cut — what scripts read with ``split()``.
"""

from __future__ import annotations

import sys
import time
from typing import Self, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

__all__ = ["PLAIN_WIDTH", "NodeProgress", "ScanProgress", "console_for", "human_bytes"]

#: Plain output is never wrapped: wide enough for any row.
PLAIN_WIDTH = 10_000
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def console_for(out: TextIO, *, width: int | None = None, terminal: bool | None = None) -> Console:
    """A console writing to ``out``: a terminal's when ``out`` is one (or ``terminal``), else
    plain. ``width``: columns to use (default: the terminal's; plain: unbounded)."""
    is_terminal = out.isatty() if terminal is None else terminal
    if is_terminal:
        return Console(file=out, width=width, highlight=False, force_terminal=True)
    return Console(
        file=out,
        width=width or PLAIN_WIDTH,
        color_system=None,
        force_terminal=False,
        highlight=False,
        emoji=False,
        markup=False,
    )


def human_bytes(size: float) -> str:
    """``size`` bytes in binary units: ``512 B``, ``4.0 KiB``, ``16.0 GiB``."""
    value = float(size)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class NodeProgress:
    """How many nodes of a fleet query have answered: a bar on ``err`` when it is a terminal
    (it disappears when done); nothing at all for scripts."""

    def __init__(self, err: TextIO, label: str) -> None:
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if err.isatty():
            self._bar = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(file=err, highlight=False),
                transient=True,
            )
            self._task = self._bar.add_task(label, total=None)

    def expect(self, nodes: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, total=nodes)

    def answered(self, node: str, error: Exception | None) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task)

    def __enter__(self) -> Self:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


class ScanProgress:
    """How far a long scan has come: its regions, pages and address so far, on ``err`` (stderr
    by default) when it is a terminal and once the scan has run ``delay`` seconds; it disappears
    when done. Quick scans and scripts never see it."""

    def __init__(self, label: str, *, err: TextIO | None = None, delay: float = 0.5) -> None:
        stream = err or sys.stderr
        self._deadline = time.monotonic() + delay
        self._bar: Progress | None = None
        if stream.isatty():
            self._bar = Progress(
                TextColumn("[progress.description]{task.description}"),
                TextColumn("{task.fields[regions]} regions, {task.fields[pages]} pages{task.fields[at]}"),
                TimeElapsedColumn(),
                console=Console(file=stream, highlight=False, force_terminal=True),
                transient=True,
            )
            self._task = self._bar.add_task(label, total=None, regions=0, pages=0, at="")
        self._started = False

    def update(self, regions: int, pages: int, position: int | None) -> None:
        """The counts so far (``position``: the address the scan has reached)."""
        if self._bar is None or time.monotonic() < self._deadline:
            return
        if not self._started:
            self._bar.start()
            self._started = True
        at = f" at {position:#x}" if position is not None else ""
        self._bar.update(self._task, regions=regions, pages=pages, at=at)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None and self._started:
            self._bar.stop()
