"""A one-line progress indicator on stderr, for scans that take a while.

Silent unless stderr is a terminal, and until the scan has run for ``delay`` seconds, so
quick scans and scripts never see it.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Self, TextIO

__all__ = ["Progress"]


class Progress:
    def __init__(
        self, label: str, *, stream: TextIO | None = None, delay: float = 0.5, interval: float = 0.1
    ) -> None:
        self._label = label
        self._stream = stream or sys.stderr
        self._enabled = self._stream.isatty()
        self._started = time.monotonic()
        self._delay = delay
        self._interval = interval
        self._drawn_at = 0.0
        self._width = 0

    def update(self, regions: int, pages: int, position: int | None) -> None:
        """Redraw (at most every ``interval`` seconds) with the counts so far."""
        if not self._enabled:
            return
        now = time.monotonic()
        if now - self._started < self._delay or now - self._drawn_at < self._interval:
            return
        self._drawn_at = now
        at = f" at {position:#x}" if position is not None else ""
        line = f"{self._label}: {regions} regions, {pages} pages{at} ({now - self._started:.1f} s)"
        self._stream.write("\r" + line.ljust(self._width))
        self._stream.flush()
        self._width = len(line)

    def clear(self) -> None:
        if self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.clear()
