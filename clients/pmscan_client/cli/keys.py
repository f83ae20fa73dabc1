"""Keys pressed on the terminal while a live view waits: ``q`` quits ``pmscan top -i``.

The terminal is put in cbreak mode (each key is read as it is pressed, not echoed; Ctrl-C still
interrupts) for as long as the view runs, and restored after, however it ends.
"""

from __future__ import annotations

import os
import select
import termios
import time
import tty
from typing import Any, Self, TextIO

__all__ = ["QUIT", "Keys"]

#: The keys that end a live view.
QUIT = frozenset("qQ")


class Keys:
    """``with Keys(sys.stdin) as keys: key = keys.wait(seconds)``: the key pressed within
    ``seconds``, or None. Where ``stream`` is no terminal (a pipe, ``/dev/null``), no key is
    ever pressed: :meth:`wait` only waits."""

    def __init__(self, stream: TextIO) -> None:
        self._fd: int | None = None
        self._saved: list[Any] | None = None
        try:
            if stream.isatty():
                self._fd = stream.fileno()
        except (OSError, ValueError):  # closed, or no file descriptor (a test's StringIO)
            self._fd = None

    def __enter__(self) -> Self:
        if self._fd is not None:
            self._saved = termios.tcgetattr(self._fd)
            tty.setcbreak(self._fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None and self._saved is not None:
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def wait(self, seconds: float) -> str | None:
        """The first key pressed within ``seconds`` (returned as soon as it is), else None."""
        if self._fd is None:
            time.sleep(seconds)
            return None
        ready, _, _ = select.select([self._fd], [], [], seconds)
        if not ready:
            return None
        data = os.read(self._fd, 1)
        return data.decode(errors="replace") if data else None
