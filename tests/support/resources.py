"""What a running process holds, from ``/proc/PID``: open files, threads, resident memory.

``Resources.of(pid)`` is one look; :meth:`Resources.scan_handles` names the descriptors a
finished scan must have given back (a pidfd, a ``/proc/N`` directory, a ``/proc/N/pagemap``
or ``maps``), so that a test can tell a leak from a listening socket.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import NamedTuple

__all__ = ["Resources", "settled"]

#: What a target's handles look like in ``/proc/SERVER/fd``: a pidfd, or a file under ``/proc/N``.
_SCAN_HANDLE = re.compile(r"^(anon_inode:\[pidfd\]|/proc/\d+(/.*)?)$")


class Resources(NamedTuple):
    """Open descriptors (number -> link target), thread count, resident set in KiB."""

    fds: dict[int, str]
    threads: int
    rss_kib: int

    @classmethod
    def of(cls, pid: int) -> Resources:
        fd_dir = Path(f"/proc/{pid}/fd")
        fds: dict[int, str] = {}
        for entry in os.listdir(fd_dir):
            try:
                fds[int(entry)] = os.readlink(fd_dir / entry)
            except FileNotFoundError:  # closed while listed
                continue
        status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        return cls(fds, int(status["Threads"]), int(status["VmRSS"].split()[0]))

    @property
    def scan_handles(self) -> list[str]:
        """The descriptors that belong to a scan of some process (none once every scan is over)."""
        return sorted(target for target in self.fds.values() if _SCAN_HANDLE.match(target))

    def describe(self) -> str:
        return f"{len(self.fds)} fds, {self.threads} threads, RSS {self.rss_kib} KiB"


def settled(pid: int, *, fds: int, timeout: float = 5.0) -> Resources:
    """Look until no scan handle is open and at most ``fds`` descriptors are (connections the
    server has not yet seen closed take a moment), or ``timeout``; the last look."""
    deadline = time.monotonic() + timeout
    while True:
        now = Resources.of(pid)
        if (not now.scan_handles and len(now.fds) <= fds) or time.monotonic() > deadline:
            return now
        time.sleep(0.02)
