"""Drive ``tests/target/pmtarget.c``, a process whose memory layout tests set up on command.

The target reads one command per line on stdin and answers each with exactly one line of JSON on
stdout: ``{"ok": true, ...}`` or ``{"ok": false, "error": "...", "errno": N}``. Its first line is
``{"ok": true, "pid": N, "page_size": P}``. Numbers are decimal or ``0x`` hex; FIRST, COUNT and STEP
count pages of an area. Areas are named; each is mapped between two ``PROT_NONE`` fence pages so it
stays a VMA of its own (``/proc/PID/smaps`` then describes it alone). Commands creating an area
reply with ``name``, ``start`` and ``end`` (``[start, end)`` in bytes); the others with nothing more.

    anon NAME PAGES                         private anonymous RW, untouched
    reserve NAME BYTES                      the same with MAP_NORESERVE (sparse multi-GiB ranges)
    file NAME PATH PAGES shared|private     PATH created or extended to PAGES pages, mapped RW
    thp NAME MIB                            2 MiB-aligned, MADV_HUGEPAGE, every page touched
    hugetlb NAME NPAGES                     MAP_HUGETLB (2 MiB pages), touched; fails with none reserved
    write NAME FIRST COUNT [STEP]           write one byte of pages FIRST, FIRST+STEP, ...
    scatter NAME COUNT SEED                 write COUNT distinct pages chosen by SEED; reply: pages [i, ...]
    read NAME FIRST COUNT [STEP]            read them (maps the zero page into untouched anon memory)
    guard|pageout|dontneed NAME FIRST COUNT madvise(MADV_GUARD_INSTALL|MADV_PAGEOUT|MADV_DONTNEED)
    mprotect NAME FIRST COUNT r|rw|rwx|none
    unmap NAME                              the area and its fences
    uffd_wp NAME                            userfaultfd WP_ASYNC|WP_UNPOPULATED, whole area protected
    clear_soft_dirty                        write "4" to /proc/self/clear_refs
    scan START END FLAGS INVERTED MASK ANYOF RETURN MAX_PAGES VEC_LEN
                                            reply: ret, walk_end, regions [[start, end, categories]...]
    scan_to PATH START END FLAGS INVERTED MASK ANYOF RETURN MAX_PAGES VEC_LEN
                                            the records go raw to PATH; reply: ret, walk_end
    spin                                    start a thread that keeps writing to a scratch byte
    stall start|stats|stop                  a thread that times mmap+munmap of one page in a loop (both
                                            take the mmap lock for writing: the stall a reader of the
                                            target causes); start replies realtime (SCHED_FIFO, as
                                            root); stats and stop reply count, max_ns, total_ns,
                                            over_1ms, over_10ms since the last stats, and reset
    exit CODE                               exit at once, without a reply; EOF on stdin exits too

``scan`` is one ``ioctl(PAGEMAP_SCAN)`` of the target's own ``/proc/self/pagemap`` with exactly
these arguments (VEC_LEN regions of buffer, 0 for none): the ground truth the service is compared
with. ``scan_to`` writes the 24-byte ``page_region`` records to PATH, for 100k+ regions.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import re
import select
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

__all__ = [
    "ALL_CATEGORIES",
    "PM_SCAN_CHECK_WPASYNC",
    "PM_SCAN_WP_MATCHING",
    "Area",
    "Category",
    "Region",
    "Target",
    "TargetError",
    "Vma",
    "build_target",
    "iter_pages",
    "read_regions",
    "wait_blocked_in_read",
]

SOURCE = Path(__file__).resolve().parent.parent / "target" / "pmtarget.c"
ABI_HEADER = SOURCE.parents[2] / "app" / "pagemap" / "pagemap_abi.h"
CFLAGS = ("-O2", "-Wall", "-Wextra", "-Werror", "-pthread")


class Category(enum.IntFlag):
    """``PAGE_IS_*`` bits of ``page_region.categories`` (include/uapi/linux/fs.h)."""

    WPALLOWED = 1 << 0
    WRITTEN = 1 << 1
    FILE = 1 << 2
    PRESENT = 1 << 3
    SWAPPED = 1 << 4
    PFNZERO = 1 << 5
    HUGE = 1 << 6
    SOFT_DIRTY = 1 << 7
    GUARD = 1 << 8


ALL_CATEGORIES = int(
    Category.WPALLOWED
    | Category.WRITTEN
    | Category.FILE
    | Category.PRESENT
    | Category.SWAPPED
    | Category.PFNZERO
    | Category.HUGE
    | Category.SOFT_DIRTY
    | Category.GUARD
)
PM_SCAN_WP_MATCHING = 1 << 0
PM_SCAN_CHECK_WPASYNC = 1 << 1

# Large enough for every test's ground truth to come back from one call.
DEFAULT_VEC_LEN = 1 << 18
_PAGE_REGION = struct.Struct("=QQQ")

_SMAPS_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")

Region = tuple[int, int, int]
"""``(start, end, categories)`` of one ``page_region``, ``[start, end)`` in bytes."""


class Area(NamedTuple):
    """A named mapping of the target, ``[start, end)`` in bytes."""

    name: str
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


class Vma(NamedTuple):
    """One mapping of ``/proc/PID/smaps``: ``[start, end)``, ``perms`` like ``rw-p``, the pathname
    or ``[name]``, the ``kB`` fields in bytes (``sizes["Rss"]``), and the ``VmFlags`` mnemonics."""

    start: int
    end: int
    perms: str
    name: str
    sizes: dict[str, int]
    flags: frozenset[str]


class TargetError(Exception):
    """The target answered ``{"ok": false}``, died, or did not answer in time.

    ``errno`` is the target's errno (``None`` when it did not answer at all).
    """

    def __init__(self, command: str, reply: dict[str, Any] | None, message: str | None = None) -> None:
        self.command = command
        self.reply = reply
        self.errno: int | None = reply.get("errno") if reply else None
        detail = message or (reply or {}).get("error", "no reply")
        super().__init__(f"{command!r}: {detail}")


def build_target(build_dir: Path) -> Path:
    """Compile ``pmtarget.c`` into *build_dir* unless the binary there is newer than its sources."""
    binary = build_dir / "pmtarget"
    newest_source = max(SOURCE.stat().st_mtime, ABI_HEADER.stat().st_mtime)
    if binary.exists() and binary.stat().st_mtime >= newest_source:
        return binary
    build_dir.mkdir(parents=True, exist_ok=True)
    # Build under a private name and rename: concurrent sessions never run a half-written file.
    partial = build_dir / f".pmtarget.{os.getpid()}"
    result = subprocess.run(
        ["gcc", *CFLAGS, "-o", str(partial), str(SOURCE)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"cannot compile {SOURCE}:\n{result.stderr}")
    partial.replace(binary)
    return binary


#: read(2)'s number, by machine: what /proc/PID/syscall shows first while a process waits in it.
_READ_SYSCALL = {"x86_64": 0, "aarch64": 63}


def wait_blocked_in_read(pid: int, *, timeout: float = 10.0) -> None:
    """Return once ``pid`` waits in ``read(2)`` (for its next command): its memory then stays as
    it is until it is written to, so two counts of it in a row must agree. A process that has just
    answered still runs for a moment (``getline`` grows its buffer, stdio flushes) and may touch a
    page between them."""
    number = str(_READ_SYSCALL[os.uname().machine])
    deadline = time.monotonic() + timeout
    while True:
        with open(f"/proc/{pid}/syscall") as file:
            if file.read().split(maxsplit=1)[0] == number:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} did not wait in read(2) within {timeout} s")
        time.sleep(0.001)


def read_regions(path: Path) -> list[Region]:
    """The ``page_region`` records a ``scan_to`` command wrote to *path*."""
    return [tuple(r) for r in _PAGE_REGION.iter_unpack(path.read_bytes())]


class Target:
    """A running ``pmtarget`` process; a context manager that kills it on exit.

    Each helper sends one command and returns the reply's useful part, or raises ``TargetError``.
    Helpers taking an area accept an ``Area`` or its name.
    """

    def __init__(self, binary: Path, *, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._buffer = bytearray()
        self._proc = subprocess.Popen(
            [str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True
        )
        try:
            hello = self._reply("<start>")
        except BaseException:
            self.close()
            raise
        self.pid: int = hello["pid"]
        self.page_size: int = hello["page_size"]

    # -- protocol --------------------------------------------------------------------------------

    def cmd(self, *words: object) -> dict[str, Any]:
        """Send one command; return its reply, or raise ``TargetError`` if it says ``ok: false``."""
        command = " ".join(str(w) for w in words)
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            stdin.write(command.encode() + b"\n")
            stdin.flush()
        except BrokenPipeError as e:
            raise TargetError(command, None, f"target exited ({self._proc.poll()})") from e
        reply = self._reply(command)
        if not reply.get("ok"):
            raise TargetError(command, reply)
        return reply

    def _reply(self, command: str) -> dict[str, Any]:
        stdout = self._proc.stdout
        assert stdout is not None
        deadline = time.monotonic() + self.timeout
        searched = 0
        # Replies to big scans run to megabytes: search only what arrived since the last look.
        while (newline := self._buffer.find(b"\n", searched)) < 0:
            searched = len(self._buffer)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not _readable(stdout.fileno(), remaining):
                raise TargetError(command, None, f"no reply within {self.timeout} s")
            chunk = os.read(stdout.fileno(), 1 << 20)
            if not chunk:
                raise TargetError(command, None, f"target exited ({self._proc.wait()})")
            self._buffer += chunk
        reply: dict[str, Any] = json.loads(self._buffer[:newline])
        del self._buffer[: newline + 1]
        return reply

    def exit(self, code: int = 0) -> int:
        """Make the target exit with *code* (it sends no reply); return its exit status."""
        stdin = self._proc.stdin
        assert stdin is not None
        stdin.write(f"exit {code}\n".encode())
        stdin.flush()
        return self._proc.wait(self.timeout)

    def close(self) -> None:
        """Kill the target and reap it. Safe to call twice."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                with contextlib.suppress(BrokenPipeError):
                    pipe.close()

    def __enter__(self) -> Target:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- areas -----------------------------------------------------------------------------------

    def _area(self, *words: object) -> Area:
        reply = self.cmd(*words)
        return Area(reply["name"], reply["start"], reply["end"])

    def anon(self, name: str, pages: int) -> Area:
        """Private anonymous read-write memory, never touched."""
        return self._area("anon", name, pages)

    def reserve(self, name: str, size: int) -> Area:
        """Like ``anon`` with ``MAP_NORESERVE``; *size* in bytes (for sparse multi-GiB ranges)."""
        return self._area("reserve", name, size)

    def file(self, name: str, path: Path | str, pages: int, *, shared: bool = True) -> Area:
        """Map *path*, created or extended to *pages* pages; the path must not contain spaces."""
        return self._area("file", name, path, pages, "shared" if shared else "private")

    def thp(self, name: str, mib: int) -> Area:
        """2 MiB-aligned anonymous memory with ``MADV_HUGEPAGE``, every page touched."""
        return self._area("thp", name, mib)

    def hugetlb(self, name: str, npages: int) -> Area:
        """``MAP_HUGETLB`` memory of *npages* 2 MiB pages, touched; fails with none reserved."""
        return self._area("hugetlb", name, npages)

    def unmap(self, area: Area | str) -> None:
        self.cmd("unmap", _name(area))

    # -- pages of an area ------------------------------------------------------------------------

    def write(self, area: Area | str, first: int, count: int = 1, step: int = 1) -> None:
        """Write one byte to pages *first*, *first* + *step*, ... (*count* pages)."""
        self.cmd("write", _name(area), first, count, step)

    def scatter(self, area: Area | str, count: int, seed: int) -> list[int]:
        """Write *count* distinct pages of the area chosen by *seed*; the indexes written."""
        pages: list[int] = self.cmd("scatter", _name(area), count, seed)["pages"]
        return pages

    def read(self, area: Area | str, first: int, count: int = 1, step: int = 1) -> None:
        """Read one byte of those pages (maps the zero page into untouched anonymous memory)."""
        self.cmd("read", _name(area), first, count, step)

    def guard(self, area: Area | str, first: int, count: int = 1) -> None:
        self.cmd("guard", _name(area), first, count)

    def pageout(self, area: Area | str, first: int, count: int = 1) -> None:
        self.cmd("pageout", _name(area), first, count)

    def dontneed(self, area: Area | str, first: int, count: int = 1) -> None:
        self.cmd("dontneed", _name(area), first, count)

    def mprotect(self, area: Area | str, first: int, count: int, prot: str) -> None:
        """*prot* is ``"none"`` or letters of ``"rwx"``."""
        self.cmd("mprotect", _name(area), first, count, prot)

    def uffd_wp(self, area: Area | str) -> None:
        """Register with userfaultfd (``WP_ASYNC|WP_UNPOPULATED``) and write-protect it all."""
        self.cmd("uffd_wp", _name(area))

    def clear_soft_dirty(self) -> None:
        self.cmd("clear_soft_dirty")

    def spin(self) -> None:
        self.cmd("spin")

    def stall(self, action: str) -> dict[str, int]:
        """``stall start`` (returns ``realtime``: the probe runs SCHED_FIFO), ``stats`` or ``stop``:
        the mmap+munmap pairs timed since the last ``stats`` (``count``, ``max_ns``, ``total_ns``,
        ``over_1ms``, ``over_10ms``)."""
        reply = self.cmd("stall", action)
        return {k: v for k, v in reply.items() if k != "ok"}

    # -- the kernel's own answer -----------------------------------------------------------------

    def kernel_scan(
        self,
        start: int,
        end: int,
        *,
        flags: int = 0,
        inverted: int = 0,
        mask: int = 0,
        anyof: int = 0,
        return_mask: int = ALL_CATEGORIES,
        max_pages: int = 0,
        vec_len: int = DEFAULT_VEC_LEN,
    ) -> tuple[int, list[Region]]:
        """One ``ioctl(PAGEMAP_SCAN)`` made by the target on itself: ``(walk_end, regions)``.

        The vector (24 bytes a region) is allocated in the target for the call: beyond 128 KiB,
        glibc maps it, and the mapping shows in scans of the addresses next to the newest areas.
        """
        reply = self.cmd("scan", start, end, flags, inverted, mask, anyof, return_mask, max_pages, vec_len)
        regions = [tuple(r) for r in reply["regions"]]
        assert len(regions) == reply["ret"]
        return reply["walk_end"], regions

    def kernel_scan_to(
        self,
        path: Path,
        start: int,
        end: int,
        *,
        flags: int = 0,
        inverted: int = 0,
        mask: int = 0,
        anyof: int = 0,
        return_mask: int = ALL_CATEGORIES,
        max_pages: int = 0,
        vec_len: int = DEFAULT_VEC_LEN,
    ) -> tuple[int, list[Region]]:
        """``kernel_scan`` for results too large for a JSON line: regions pass through *path*."""
        reply = self.cmd(
            "scan_to", path, start, end, flags, inverted, mask, anyof, return_mask, max_pages, vec_len
        )
        regions = read_regions(path)
        assert len(regions) == reply["ret"]
        return reply["walk_end"], regions

    # -- what /proc says about the target ---------------------------------------------------------

    def vmas(self) -> list[Vma]:
        """The target's VMAs as ``/proc/PID/smaps`` describes them."""
        vmas: list[Vma] = []
        for line in Path(f"/proc/{self.pid}/smaps").read_text().splitlines():
            header = _SMAPS_HEADER.match(line)
            if header:
                start, end, perms, name = header.groups()
                vmas.append(Vma(int(start, 16), int(end, 16), perms, name, {}, frozenset()))
            elif line.startswith("VmFlags:"):
                vmas[-1] = vmas[-1]._replace(flags=frozenset(line.split()[1:]))
            elif line.endswith(" kB"):
                key, value = line.split(":", 1)
                vmas[-1].sizes[key] = int(value.split()[0]) * 1024
        return vmas

    def smaps(self, area: Area) -> dict[str, int]:
        """The ``kB`` fields of ``/proc/PID/smaps`` (``Rss``, ``Swap``, ...) in bytes, summed over
        the VMAs of *area*.

        Raises ``AssertionError`` if a VMA straddles the area's bounds: its numbers would include
        memory outside the area.
        """
        totals: dict[str, int] = {}
        for vma in self.vmas():
            if vma.start < area.end and area.start < vma.end:
                assert area.start <= vma.start and vma.end <= area.end, f"{vma} straddles {area}"
                for key, value in vma.sizes.items():
                    totals[key] = totals.get(key, 0) + value
        return totals

    def pagemap_entries(self, start: int, end: int) -> list[int]:
        """The raw 64-bit ``/proc/PID/pagemap`` entries of the pages of ``[start, end)``."""
        with open(f"/proc/{self.pid}/pagemap", "rb") as f:
            f.seek(start // self.page_size * 8)
            data = f.read((end - start) // self.page_size * 8)
        return [e for (e,) in struct.iter_unpack("=Q", data)]

    def page(self, area: Area, index: int) -> int:
        """The address of page *index* of *area*."""
        return area.start + index * self.page_size


def _readable(fd: int, timeout: float) -> bool:
    """Whether ``fd`` has data (or EOF) within ``timeout`` seconds: poll(2), which, unlike
    select(2), takes descriptors above 1023 (a bench drives thousands of targets)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(timeout * 1e3))


def _name(area: Area | str) -> str:
    return area if isinstance(area, str) else area.name


def iter_pages(regions: list[Region], page_size: int) -> Iterator[tuple[int, int]]:
    """``(address, categories)`` of every page the regions cover."""
    for start, end, categories in regions:
        for address in range(start, end, page_size):
            yield address, categories
