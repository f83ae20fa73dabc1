"""The ``pagemap`` backend (PAGEMAP_SCAN emulated from /proc/PID/pagemap) against the ioctl.

Every test sets a layout up in a target process, asks both backends the same question about
the same, idle, state, and asserts the same answer: the regions, ``walk_end`` and the page
count, for single steps (small ``vec_len`` / ``max_pages``) and for whole chunked scans.
The two states pagemap cannot tell apart from others are pinned down at the end
(``TestKnownDifferences``): if one of those tests fails, the emulation or the kernel changed.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.pagemap import (
    BACKENDS,
    Backend,
    Category,
    IoctlBackend,
    NotWPAsync,
    Scan,
    ScanArgs,
    ScanFlag,
    ScanOptions,
    TargetProcess,
    Unsupported,
    _pagemapfile,
    choose_backend,
    open_scan,
    probe,
)
from app.pagemap.emulation import EmulationSupport, PagemapBackend, emulation_support
from app.pagemap.region import RECORD
from tests.support.target import Area, Target, TargetError

Region = tuple[int, int, int]
Answer = tuple[list[Region], int, int]

IOCTL = IoctlBackend()
PAGEMAP = PagemapBackend()
#: What both backends can report here (as root: all the kernel knows).
COMMON = int(probe().categories & emulation_support().categories)
PAGE_SIZE = os.sysconf("SC_PAGESIZE")
PMD_SIZE = PAGE_SIZE // 8 * PAGE_SIZE
PMD_PAGES = PMD_SIZE // PAGE_SIZE
#: The user address-space limit; scans of "everything" stop there.
USER_LIMIT = probe().user_address_limit

P, W, F, S, Z, H, G, WP = (
    Category.PRESENT,
    Category.WRITTEN,
    Category.FILE,
    Category.SWAPPED,
    Category.PFNZERO,
    Category.HUGE,
    Category.GUARD,
    Category.WPALLOWED,
)
#: Filters worth trying on every layout: everything, the kernel's WRITTEN fast path,
#: unpopulated pages, and merging decided by a narrow return_mask.
MASKS: list[dict[str, int]] = [
    {},
    {"category_anyof_mask": P | S},
    {"category_mask": W, "return_mask": W},
    {"category_inverted": P, "category_mask": P},
    {"category_mask": H},
    {"return_mask": P | H},
    {"category_anyof_mask": Z | G | F},
    {"category_inverted": W | S, "category_anyof_mask": W | S, "return_mask": W | WP},
]
#: (vec_len, max_pages) of single steps. At most 512 regions or pages (one kernel bounce buffer):
#: beyond that, after an exact fit, the ioctl's walk_end is another correct resume point, the end
#: of its last region where the emulation says end (kernel-notes 2).
STEPS = [(1 << 16, 0), (1, 0), (3, 0), (512, 1), (512, 7), (2, 5)]


#: A process with 64 pages registered for synchronous uffd write-protection (no WP_ASYNC), the
#: first 8 written, 4 of those write-protected; prints "start end".
SYNC_UFFD_WP = """
import ctypes, fcntl, mmap, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
fd = libc.syscall(323, os.O_CLOEXEC | os.O_NONBLOCK | 1)  # userfaultfd(UFFD_USER_MODE_ONLY)
fcntl.ioctl(fd, 0xC018AA3F, bytearray(struct.pack("<QQQ", 0xAA, 0, 0)))  # UFFDIO_API, no features
area = mmap.mmap(-1, 64 * 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
buffer = (ctypes.c_char * len(area)).from_buffer(area)
start = ctypes.addressof(buffer)
area[0 : 8 * 4096] = b"x" * 8 * 4096
fcntl.ioctl(fd, 0xC020AA00, bytearray(struct.pack("<QQQQ", start, len(area), 2, 0)))  # REGISTER, MODE_WP
fcntl.ioctl(fd, 0xC018AA06, bytearray(struct.pack("<QQQ", start, 4 * 4096, 1)))  # WRITEPROTECT
print(start, start + len(area), flush=True)
sys.stdin.read()
"""


def args_for(
    start: int,
    end: int,
    *,
    category_inverted: int = 0,
    category_mask: int = 0,
    category_anyof_mask: int = 0,
    return_mask: int = COMMON,
) -> ScanArgs:
    """The scan of ``[start, end)`` with these filters, limited to what both backends know."""
    return ScanArgs(
        start=start,
        end=end,
        category_inverted=category_inverted & COMMON,
        category_mask=category_mask & COMMON,
        category_anyof_mask=category_anyof_mask & COMMON,
        return_mask=return_mask & COMMON,
    )


def step(backend: Backend, pid: int, args: ScanArgs, *, vec_len: int, max_pages: int) -> Answer:
    with TargetProcess(pid) as target:
        records, walk_end, pages = backend.scan(
            target, args.start, args, max_pages=max_pages, vec_len=vec_len
        )
    return list(RECORD.iter_unpack(records)), walk_end, pages


def whole(backend: Backend, pid: int, args: ScanArgs, *, chunk_records: int = 8192) -> Answer:
    with TargetProcess(pid) as target:
        scan = Scan(target, args, backend, chunk_records=chunk_records)
        regions = list(RECORD.iter_unpack(scan.run()))
        assert scan.regions == len(regions)
    return regions, scan.walk_end, scan.pages


def assert_same(ask: Callable[[Backend], Answer], what: str) -> None:
    """``ask(PAGEMAP) == ask(IOCTL)``. The target is idle, but the kernel is not: khugepaged may
    collapse a split huge page between the two questions. A difference counts only when the
    ioctl, asked again, confirms the state did not change meanwhile."""
    for _ in range(3):
        expected = ask(IOCTL)
        got = ask(PAGEMAP)
        if got == expected or ask(IOCTL) == expected:
            break
    assert got == expected, what


def assert_agree(pid: int, start: int, end: int, *, masks: list[dict[str, int]] = MASKS) -> list[Region]:
    """Both backends, every filter, single steps and whole scans: the same answers.
    Returns the ioctl's unfiltered regions (for the test to check its layout means something)."""
    for mask in masks:
        args = args_for(start, end, **mask)
        for vec_len, max_pages in STEPS:
            assert_same(
                partial(step, pid=pid, args=args, vec_len=vec_len, max_pages=max_pages),
                f"{mask} vec_len={vec_len} max_pages={max_pages}",
            )
        for chunk_records in (8192, 3):
            assert_same(
                partial(whole, pid=pid, args=args, chunk_records=chunk_records),
                f"{mask} chunk_records={chunk_records}",
            )
    return step(IOCTL, pid, args_for(start, end), vec_len=1 << 16, max_pages=0)[0]


def around(area: Area) -> tuple[int, int]:
    """The area with a block of its neighbours on each side (its fence pages, gaps, others)."""
    return area.start - PMD_SIZE, area.end + PMD_SIZE


def categories_of(regions: list[Region]) -> set[int]:
    return {c for _, _, c in regions}


needs_root = pytest.mark.skipif(
    COMMON & (Z | H) != Z | H, reason="PFNZERO and HUGE need CAP_SYS_ADMIN and /proc/kpageflags"
)


# ---- layouts ------------------------------------------------------------------------------------


class TestLayoutsAgreeWithIoctl:
    def test_dense(self, target: Target) -> None:
        area = target.anon("dense", 256)
        target.write(area, 0, 256)
        assert categories_of(assert_agree(target.pid, *around(area))) >= {P | W}

    def test_sparse(self, target: Target) -> None:
        area = target.reserve("sparse", 64 << 20)
        target.write(area, 3, 300, step=41)
        target.write(area, 14000, 600)
        assert_agree(target.pid, *around(area))

    def test_untouched_mapping_and_page_tables(self, target: Target) -> None:
        """Unpopulated pages report WRITTEN where a page table exists, nothing where none does."""
        area = target.reserve("fresh", 8 << 20)
        target.write(area, PMD_PAGES + 5)
        regions = assert_agree(target.pid, area.start, area.end)
        assert {0, int(W)} <= categories_of(regions)

    def test_file_shared_and_private(self, target: Target, tmp_path: Path) -> None:
        shared = target.file("shared", tmp_path / "shared", 64, shared=True)
        target.write(shared, 0, 8)
        target.read(shared, 30, 4)
        private = target.file("private", tmp_path / "private", 64, shared=False)
        target.write(private, 0, 4)  # copied on write: anonymous, not FILE
        target.read(private, 40, 4)
        shm = target.file("shm", Path("/dev/shm") / f"pmscan-emulation-{os.getpid()}", 16, shared=True)
        try:
            target.write(shm, 2, 3)
            for area in (shared, private, shm):
                assert_agree(target.pid, *around(area))
        finally:
            Path("/dev/shm", f"pmscan-emulation-{os.getpid()}").unlink(missing_ok=True)

    @needs_root
    def test_zero_page(self, target: Target) -> None:
        area = target.anon("zero", 64)
        target.read(area, 0, 20, step=3)
        target.write(area, 1, 5)
        assert P | W | Z in categories_of(assert_agree(target.pid, *around(area)))

    @needs_root
    def test_transparent_huge_pages(self, target: Target) -> None:
        area = target.thp("thp", 8)
        if target.smaps(area)["AnonHugePages"] == 0:
            pytest.skip("the kernel formed no transparent huge page")
        target.dontneed(area, PMD_PAGES + 20, 10)  # splits that one into page-table mappings
        regions = assert_agree(target.pid, *around(area))
        assert P | W | H in categories_of(regions)

    @needs_root
    def test_huge_zero_page(self, target: Target) -> None:
        """A read fault in an empty MADV_HUGEPAGE block maps the huge zero page with a PMD:
        pagemap calls it a file page, PAGEMAP_SCAN a huge zero page."""
        area = target.thp("thp", 4)
        target.dontneed(area, 0, PMD_PAGES)
        target.read(area, 0)
        regions = assert_agree(target.pid, *around(area))
        if P | W | Z | H not in categories_of(regions):
            pytest.skip("no huge zero page here (transparent_hugepage/use_zero_page is off)")

    def test_guard_pages(self, target: Target) -> None:
        area = target.anon("guarded", 64)
        target.write(area, 0, 32)
        try:
            target.guard(area, 4, 3)
        except TargetError as e:
            pytest.skip(f"no guard regions on this kernel: {e}")
        target.guard(area, 40, 1)
        regions = assert_agree(target.pid, *around(area))
        if COMMON & G:
            assert S | W | G in categories_of(regions)

    def test_uffd_wp_async_before_and_after_writes(self, target: Target) -> None:
        area = target.anon("tracked", 128)
        target.write(area, 0, 16)
        target.uffd_wp(area)
        assert_agree(target.pid, *around(area))
        target.write(area, 8, 16)
        target.read(area, 60, 4)
        target.dontneed(area, 10, 2)
        regions = assert_agree(target.pid, *around(area))
        assert {WP | P, WP | P | W, WP | S} <= {c & (WP | P | W | S) for c in categories_of(regions)}
        # Reset by the kernel (WP_MATCHING), written again: the emulation sees the new state.
        step(
            IOCTL,
            target.pid,
            ScanArgs(area.start, area.end, ScanFlag.WP_MATCHING, category_mask=W),
            vec_len=64,
            max_pages=0,
        )
        target.write(area, 100, 3)
        assert_agree(target.pid, *around(area))

    @pytest.mark.skipif(os.uname().machine != "x86_64", reason="the helper calls syscall 323 (x86-64)")
    def test_synchronous_uffd_wp_is_not_wpallowed(self) -> None:
        """Registered for write-protection without WP_ASYNC (``uw`` in smaps all the same):
        the kernel gives no WPALLOWED, and the emulation learns why from the uffd's fdinfo."""
        with subprocess.Popen(
            [sys.executable, "-c", SYNC_UFFD_WP], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        ) as child:
            try:
                assert child.stdout is not None
                start, end = map(int, child.stdout.readline().split())
                regions = assert_agree(child.pid, start - PMD_SIZE, end + PMD_SIZE)
                assert {int(P), int(P | W), int(W)} <= categories_of(regions)
                check = dataclasses.replace(args_for(start, end), flags=ScanFlag.CHECK_WPASYNC)
                for backend in (IOCTL, PAGEMAP):
                    with pytest.raises(NotWPAsync):
                        step(backend, child.pid, check, vec_len=8, max_pages=0)
            finally:
                child.kill()

    @pytest.mark.root
    @pytest.mark.swap
    def test_swapped(self, target: Target, swap: Path) -> None:
        area = target.anon("swapped", 64)
        target.write(area, 0, 48)
        target.read(area, 50, 4)
        target.pageout(area, 0, 24)
        tracked = target.anon("tracked", 32)
        target.uffd_wp(tracked)
        target.write(tracked, 0, 16)
        target.pageout(tracked, 0, 8)
        regions = assert_agree(target.pid, *around(area)) + assert_agree(target.pid, *around(tracked))
        assert S | W in categories_of(regions), "MADV_PAGEOUT swapped nothing out"

    @pytest.mark.root
    @pytest.mark.hugetlb
    def test_hugetlb(self, target: Target, hugepages: int) -> None:
        area = target.hugetlb("huge", 3)
        target.dontneed(area, PMD_PAGES, PMD_PAGES)
        tracked = target.hugetlb("tracked", 2)
        target.uffd_wp(tracked)
        target.write(tracked, 0)
        for a in (area, tracked):
            assert any(c & H for c in categories_of(assert_agree(target.pid, *around(a))))

    def test_every_mapping_of_a_process(self, target: Target) -> None:
        """Libraries, stack, heap, [vdso], and [vvar] (VM_PFNMAP: skipped by both)."""
        area = target.anon("a", 32)
        target.write(area, 0, 16, step=2)
        assert_agree(target.pid, 0, USER_LIMIT, masks=MASKS[:4])


# ---- random filters and ranges ---------------------------------------------------------------


@pytest.fixture(scope="module")
def zoo(target_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int, int]]:
    """One idle target with many layouts side by side: ``(pid, low, high)`` spans them."""
    with Target(target_binary) as t:
        areas = [t.anon("dense", 96), t.reserve("sparse", 12 << 20), t.anon("tracked", 96)]
        t.write("dense", 0, 64)
        t.read("dense", 64, 16)
        t.guard("dense", 90, 3)
        t.write("sparse", 7, 200, step=13)
        t.write("sparse", PMD_PAGES * 3, 40)
        t.uffd_wp("tracked")
        t.write("tracked", 20, 30, step=2)
        areas.append(t.file("file", tmp_path_factory.mktemp("zoo") / "file", 64))
        t.write("file", 0, 10)
        areas.append(t.thp("thp", 4))
        t.dontneed("thp", 100, 4)
        yield t.pid, min(a.start for a in areas) - PMD_SIZE, max(a.end for a in areas) + PMD_SIZE


masks = st.integers(0, COMMON)


class TestRandomFiltersAgree:
    @given(data=st.data())
    @settings(max_examples=150, deadline=None)
    def test_same_answers(self, zoo: tuple[int, int, int], data: st.DataObject) -> None:
        pid, low, high = zoo
        pages = (high - low) // PAGE_SIZE
        first = data.draw(st.integers(0, pages - 1), label="first page")
        last = data.draw(st.integers(first, pages), label="end page")
        max_pages = data.draw(st.one_of(st.just(0), st.integers(1, 512)), label="max_pages")
        args = ScanArgs(
            start=low + first * PAGE_SIZE,
            end=low + last * PAGE_SIZE,
            category_inverted=data.draw(masks, label="category_inverted"),
            category_mask=data.draw(masks, label="category_mask"),
            category_anyof_mask=data.draw(masks, label="category_anyof_mask"),
            return_mask=data.draw(masks, label="return_mask"),
            max_pages=max_pages,
            vec_len=data.draw(st.one_of(st.none(), st.integers(0, 40)), label="vec_len of the scan"),
        )
        vec_len = data.draw(st.integers(1, 64), label="vec_len of a step")
        assert_same(lambda b: step(b, pid, args, vec_len=vec_len, max_pages=max_pages), "one step")
        chunk_records = data.draw(st.integers(1, 16), label="chunk_records")
        assert_same(lambda b: whole(b, pid, args, chunk_records=chunk_records), "whole scan")


# ---- choosing and refusing -----------------------------------------------------------------------


class TestAutoWithoutTheIoctl:
    def test_auto_picks_pagemap_when_the_kernel_lacks_the_ioctl(self, target: Target) -> None:
        old_kernel = dataclasses.replace(probe(), pagemap_scan=False)
        chosen = choose_backend("auto", old_kernel)
        assert chosen is BACKENDS["pagemap"]
        with pytest.raises(Unsupported, match="no ioctl"):
            choose_backend("ioctl", old_kernel)
        assert choose_backend("auto", probe()) is BACKENDS["ioctl"]

        area = target.anon("a", 64)
        target.write(area, 0, 20, step=3)
        args = args_for(*around(area))
        assert whole(chosen, target.pid, args) == whole(IOCTL, target.pid, args)

    def test_open_scan_with_backend_pagemap(self, target: Target) -> None:
        area = target.anon("a", 64)
        target.write(area, 5, 20)
        answers = []
        for backend in ("ioctl", "pagemap"):
            options = ScanOptions(start=area.start, end=area.end, backend=backend)
            scan = open_scan(target.pid, options, chunk_records=2)
            with scan.target:
                answers.append((scan.run(), scan.walk_end, scan.pages, scan.args.return_mask))
        assert answers[0] == answers[1]


class TestRefusals:
    def test_wp_matching_is_unsupported(self, target: Target) -> None:
        area = target.anon("tracked", 8)
        target.uffd_wp(area)
        args = ScanArgs(area.start, area.end, ScanFlag.WP_MATCHING, category_mask=W)
        with pytest.raises(Unsupported, match="no atomic write-protect from user space"):
            step(PAGEMAP, target.pid, args, vec_len=8, max_pages=0)

    def test_check_wpasync_like_the_kernel(self, target: Target) -> None:
        tracked = target.anon("tracked", 8)
        target.uffd_wp(tracked)
        target.write(tracked, 2)
        plain = target.anon("plain", 8)
        ok = args_for(tracked.start, tracked.end)
        ok = dataclasses.replace(ok, flags=ScanFlag.CHECK_WPASYNC)
        assert step(PAGEMAP, target.pid, ok, vec_len=8, max_pages=0) == step(
            IOCTL, target.pid, ok, vec_len=8, max_pages=0
        )
        refused = dataclasses.replace(ok, start=plain.start, end=plain.end)
        for backend in (IOCTL, PAGEMAP):
            with pytest.raises(NotWPAsync):
                step(backend, target.pid, refused, vec_len=8, max_pages=0)

    def test_without_privilege_the_rest_still_agrees(self, target: Target) -> None:
        """Without CAP_SYS_ADMIN (no frame numbers, no kpageflags) PFNZERO and HUGE are refused,
        and every answer that does not involve them is unchanged."""
        reasons = {Category.PFNZERO: "hidden frames", Category.HUGE: "no kpageflags"}
        unprivileged = PagemapBackend(
            EmulationSupport(Category(COMMON & ~(Z | H)), zero_pfn=0, kpageflags_fd=-1, missing=reasons)
        )
        area = target.thp("thp", 4)
        target.read(area, 0)
        zeros = target.anon("zeros", 16)
        target.read(zeros, 0, 8)
        for start, end in (around(area), around(zeros)):
            with pytest.raises(Unsupported, match="PFNZERO"):
                step(unprivileged, target.pid, args_for(start, end), vec_len=64, max_pages=0)
            for mask in MASKS:
                if (mask.get("category_mask", 0) | mask.get("category_anyof_mask", 0)) & (Z | H):
                    continue
                args = args_for(
                    start, end, **{**mask, "return_mask": mask.get("return_mask", COMMON) & ~(Z | H)}
                )
                assert whole(unprivileged, target.pid, args) == whole(IOCTL, target.pid, args), mask

    @pytest.mark.root
    def test_as_root_everything_the_kernel_knows_is_derivable(self) -> None:
        support = emulation_support()
        assert support.categories & probe().categories == probe().categories
        assert support.zero_pfn != 0 and support.kpageflags_fd >= 0
        assert support.missing == {}


# ---- the C layer's own checks ----------------------------------------------------------------------


class TestExtensionArguments:
    def test_kernel_argument_errors(self, target: Target) -> None:
        area = target.anon("a", 4)
        with TargetProcess(target.pid) as t:
            for start, end, code in (
                (area.start + 1, area.end, errno.EINVAL),
                (area.end, area.start, errno.EFAULT),
            ):
                with pytest.raises(OSError) as excinfo:
                    _pagemapfile.scan(t.pagemap_fd, b"", start, end, vec_len=1)
                assert excinfo.value.errno == code

    def test_bad_mappings_and_vec_len(self) -> None:
        vma = struct.Struct("<QQQQ")
        fd = os.open("/proc/self/pagemap", os.O_RDONLY)
        try:
            for vmas in (
                b"x",
                vma.pack(8192, 4096, 0, 0),
                vma.pack(0, 8192, 0, 0) + vma.pack(4096, 12288, 0, 0),
            ):
                with pytest.raises(ValueError, match="vmas"):
                    _pagemapfile.scan(fd, vmas, 0, 4096, vec_len=1)
            with pytest.raises(ValueError, match="vec_len"):
                _pagemapfile.scan(fd, b"", 0, 4096, vec_len=0)
        finally:
            os.close(fd)

    def test_read_errors_are_oserror(self) -> None:
        vma = struct.Struct("<QQQQ").pack(0x10000, 0x20000, 0, 0)
        with pytest.raises(OSError) as excinfo:
            _pagemapfile.scan(-1, vma, 0x10000, 0x20000, vec_len=1)
        assert excinfo.value.errno == errno.EBADF

    # Under AddressSanitizer (make asan) freed memory is held in quarantine: RSS says nothing.
    @pytest.mark.skipif("ASAN_OPTIONS" in os.environ, reason="RSS grows with ASan's quarantine")
    def test_repeated_calls_keep_rss_flat(self, target: Target) -> None:
        area = target.anon("a", 4096)
        target.write(area, 0, 2048, 2)

        def rss_kib() -> int:
            return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE_SIZE // 1024

        vmas = struct.pack("<QQQQ", area.start, area.end, 0, _pagemapfile.VMA_ANON)
        with TargetProcess(target.pid) as t:

            def round_trip() -> None:
                _pagemapfile.scan(t.pagemap_fd, vmas, area.start, area.end, return_mask=COMMON, vec_len=4096)
                with pytest.raises(OSError):
                    _pagemapfile.scan(t.pagemap_fd, vmas, area.start + 1, area.end, vec_len=4096)

            for _ in range(100):
                round_trip()
            before = rss_kib()
            for _ in range(1000):
                round_trip()
            grown = rss_kib() - before
        # Each round trip allocates ~600 KiB (records, the window of entries): a leak would show.
        assert grown < 8 * 1024, f"RSS grew by {grown} KiB over 1000 calls"

    def test_end_is_rounded_up_like_the_kernel(self, target: Target) -> None:
        area = target.anon("a", 4)
        target.write(area, 3)
        args = args_for(area.start, area.end - 1)
        assert step(PAGEMAP, target.pid, args, vec_len=8, max_pages=0) == step(
            IOCTL, target.pid, args, vec_len=8, max_pages=0
        )


# ---- what pagemap cannot tell --------------------------------------------------------------------


def pages_differing(pid: int, start: int, end: int) -> dict[int, tuple[int, int]]:
    """``{address: (ioctl categories, pagemap categories)}`` of the pages the two disagree on."""
    args = args_for(start, end)
    answers = [step(b, pid, args, vec_len=1 << 16, max_pages=0)[0] for b in (IOCTL, PAGEMAP)]
    per_page = [{a: c for s, e, c in regions for a in range(s, e, PAGE_SIZE)} for regions in answers]
    return {
        a: (per_page[0].get(a, -1), per_page[1].get(a, -1))
        for a in per_page[0]
        if per_page[0][a] != per_page[1].get(a)
    }


class TestKnownDifferences:
    def test_an_emptied_page_table_is_taken_for_none(self, target: Target) -> None:
        """Pages freed from a page table that stays (MADV_DONTNEED of less than its whole block):
        the kernel reports its empty entries WRITTEN, pagemap shows them as it shows a hole."""
        area = target.reserve("r", 3 * PMD_SIZE)
        block = (area.start + PMD_SIZE - 1) // PMD_SIZE * PMD_SIZE  # wholly inside the area
        first = (block - area.start) // PAGE_SIZE
        target.write(area, first + 10, 5)
        target.dontneed(area, first + 10, 5)
        differing = pages_differing(target.pid, area.start, area.end)
        assert set(differing) == set(range(block, block + PMD_SIZE, PAGE_SIZE))
        assert set(differing.values()) == {(int(W), 0)}

    @needs_root
    def test_a_split_huge_page_with_unchanged_flags_looks_whole(self, target: Target) -> None:
        """mprotect over part of a THP splits its PMD; mprotect back merges the mappings again.
        Every page table entry then looks like the PMD did, and smaps cannot say which block
        of the mapping it is: the emulation reports HUGE, the kernel does not."""
        area = target.thp("thp", 4)
        if target.smaps(area)["AnonHugePages"] != area.size:
            pytest.skip("the kernel formed no transparent huge pages")
        target.mprotect(area, 3, 1, "r")
        target.mprotect(area, 3, 1, "rw")
        differing = pages_differing(target.pid, area.start, area.end)
        if target.smaps(area)["AnonHugePages"] != PMD_SIZE:
            pytest.skip("khugepaged made the split huge page whole again meanwhile")
        assert set(differing) == set(range(area.start, area.start + PMD_SIZE, PAGE_SIZE))
        assert set(differing.values()) == {(int(P | W), int(P | W | H))}
