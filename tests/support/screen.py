"""A terminal a person would look at: a command run in a tmux pane of a given size, and the
screen read back with its colours (``capture-pane -e``)."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

__all__ = ["Cell", "Screen", "TmuxUnavailableError", "parse_line"]

_SGR = re.compile(r"\x1b\[([0-9;]*)m")


class TmuxUnavailableError(Exception):
    """tmux is not installed (``make tools`` installs it)."""


class Cell(NamedTuple):
    """One character of the screen and its foreground colour: an SGR code (32: green, 91:
    bright red, ...), ``"5;N"`` for a 256-colour one, or None for the default."""

    char: str
    colour: str | None
    bold: bool


def parse_line(raw: str) -> list[Cell]:
    """The cells of one captured line (escape sequences interpreted, not shown)."""
    cells: list[Cell] = []
    colour: str | None = None
    bold = False
    position = 0
    for match in _SGR.finditer(raw):
        cells.extend(Cell(c, colour, bold) for c in raw[position : match.start()])
        position = match.end()
        codes = [int(p) if p else 0 for p in match.group(1).split(";")] if match.group(1) else [0]
        index = 0
        while index < len(codes):
            code = codes[index]
            if code == 0:
                colour, bold = None, False
            elif code == 1:
                bold = True
            elif code == 22:
                bold = False
            elif 30 <= code <= 37 or 90 <= code <= 97:
                colour = str(code)
            elif code == 39:
                colour = None
            elif code == 38 and index + 2 < len(codes) and codes[index + 1] == 5:
                colour = f"5;{codes[index + 2]}"
                index += 2
            elif code in (38, 48) and index + 4 < len(codes) and codes[index + 1] == 2:
                index += 4
            elif code == 48 and index + 2 < len(codes) and codes[index + 1] == 5:
                index += 2
            index += 1
    cells.extend(Cell(c, colour, bold) for c in raw[position:])
    return cells


class Screen:
    """``with Screen(["pmscan", "map", "1"], width=80) as screen: screen.wait_done()``.

    The pane stays after the command exits, so its last screen can be read.
    """

    def __init__(self, command: Sequence[str], *, width: int = 80, height: int = 40) -> None:
        tmux = shutil.which("tmux")
        if tmux is None:
            raise TmuxUnavailableError("tmux is not installed (make tools installs it)")
        self._tmux = tmux
        self._dir = tempfile.TemporaryDirectory(prefix="pmscan-tmux-")
        self._socket = str(Path(self._dir.name) / "socket")
        # The size comes from the pane, as on a person's terminal: not from variables that the
        # tmux server inherited (pytest sets COLUMNS for its own output).
        shell_command = shlex.join(["env", "-u", "COLUMNS", "-u", "LINES", *command])
        self._run("new-session", "-d", "-s", "test", "-x", str(width), "-y", str(height), "sleep 3600")
        try:
            self._server = int(self._run("display-message", "-p", "#{pid}").strip())
            self._run("set-option", "-t", "test", "remain-on-exit", "on")
            self._run("respawn-pane", "-k", "-t", "test", shell_command)
        except BaseException:
            self.close()
            raise

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            [self._tmux, "-S", self._socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def exit_status(self) -> int | None:
        """The command's exit status once tmux has reaped it (None until then: tmux sees the
        pane's end of file before the child's exit status). tmux 3.3 leaves the format
        empty at times; its "Pane is dead (status N, …)" line tells it too."""
        dead, status, pid = self._run(
            "display-message", "-p", "-t", "test", "#{pane_dead} #{pane_dead_status} #{pane_pid}"
        ).split(" ")
        if status.strip():
            return int(status)
        if dead != "1":
            return None
        # tmux 3.3 may mark the pane dead (its end of file) and leave the child unreaped for a
        # long while: a zombie's /proc/PID/stat holds its wait status (field 52, exit_code).
        try:
            stat = Path(f"/proc/{pid.strip()}/stat").read_text()
        except FileNotFoundError:
            return None
        fields = stat.rsplit(")", 1)[1].split()
        return int(fields[-1]) >> 8 if fields[0] == "Z" else None

    def wait_done(self, timeout: float = 60.0) -> int:
        """Wait for the command to exit; its exit status."""
        deadline = time.monotonic() + timeout
        while (status := self.exit_status()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the command did not finish within {timeout} s:\n{self.text()}")
            time.sleep(0.05)
        return status

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.text():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on the screen within {timeout} s:\n{self.text()}")
            time.sleep(0.05)

    def press(self, *keys: str) -> None:
        """Type ``keys`` into the pane, as a person at the keyboard would (tmux key names:
        ``q``, ``C-c``, ``Enter``)."""
        self._run("send-keys", "-t", "test", *keys)

    def raw_lines(self) -> list[str]:
        """The screen's lines with their escape sequences (and those scrolled off the top: tmux
        scrolls one line when it notes that the pane died)."""
        return self._run("capture-pane", "-p", "-e", "-S", "-", "-t", "test").split("\n")

    def lines(self) -> list[list[Cell]]:
        return [parse_line(line) for line in self.raw_lines()]

    def text(self) -> str:
        return self._run("capture-pane", "-p", "-S", "-", "-t", "test")

    def close(self) -> None:
        """Stop this tmux server (and the command, if still running); leave nothing behind."""
        subprocess.run([self._tmux, "-S", self._socket, "kill-server"], capture_output=True, check=False)
        server = getattr(self, "_server", None)
        if server is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server, signal.SIGKILL)  # already gone after kill-server, as a rule
        self._dir.cleanup()

    def __enter__(self) -> Screen:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
