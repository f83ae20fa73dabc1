"""Child processes to scan in end-to-end tests: idle sleepers, and a process with very many
page regions (for answers large and slow enough to saturate, time out or outlive a server).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["MANY_REGIONS_PAGES", "many_regions", "named_sleep", "sleepers", "stop", "zombie"]

#: 2^18 pages (1 GiB of address space) every other one read: about 262,000 regions,
#: about 21 MB of NDJSON, while the process stays at about 10 MB resident.
MANY_REGIONS_PAGES = 1 << 18

# Reading a page of untouched private anonymous memory maps the shared zero page
# (PRESENT | PFNZERO) without allocating: every page read, every page left untouched,
# alternate, so each page is a region of its own. No THP: a huge zero page would merge them.
_MANY_REGIONS = """
import mmap, sys
pages = int(sys.argv[1])
size = pages * mmap.PAGESIZE
area = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
area.madvise(mmap.MADV_NOHUGEPAGE)
for offset in range(0, size, 2 * mmap.PAGESIZE):
    area[offset]
print("ready", flush=True)
sys.stdin.read()
"""


def stop(process: subprocess.Popen[Any]) -> None:
    """Kill and reap (a no-op for a process already reaped)."""
    if process.poll() is None:
        process.kill()
    process.wait()
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


@contextlib.contextmanager
def sleepers(
    count: int = 1, *, argv: list[str] | None = None, **popen: Any
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` idle ``sleep 1000`` processes (``argv`` replaces the command)."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            processes.append(subprocess.Popen(argv or ["sleep", "1000"], **popen))
        yield processes
    finally:
        for process in processes:
            stop(process)


@contextlib.contextmanager
def named_sleep(directory: Path) -> Iterator[Path]:
    """A copy of ``sleep`` under a unique name (its comm, at most 15 characters), so that a
    ``?comm=`` filter finds only the test's own processes."""
    name = f"pms{uuid.uuid4().hex[:12]}"
    path = directory / name
    sleep = shutil.which("sleep")
    assert sleep is not None
    shutil.copy(sleep, path)
    os.chmod(path, 0o755)
    yield path


@contextlib.contextmanager
def many_regions(pages: int = MANY_REGIONS_PAGES) -> Iterator[subprocess.Popen[bytes]]:
    """A Python child whose ``pages``-page area alternates read and untouched pages."""
    process = subprocess.Popen(
        [sys.executable, "-c", _MANY_REGIONS, str(pages)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != b"ready":
            raise RuntimeError("the many-regions child did not start")
        yield process
    finally:
        stop(process)


@contextlib.contextmanager
def zombie(timeout: float = 5.0) -> Iterator[int]:
    """The pid of a child that has exited and is not yet reaped (state ``Z``); reaped after."""
    child = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + timeout
        while Path(f"/proc/{child.pid}/stat").read_text().split(") ")[1][0] != "Z":
            if time.monotonic() > deadline:
                raise TimeoutError(f"process {child.pid} did not become a zombie")
            time.sleep(0.01)
        yield child.pid
    finally:
        child.wait()
