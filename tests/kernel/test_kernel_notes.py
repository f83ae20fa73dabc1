"""The facts of docs/kernel-notes.md, pinned down against this machine's kernel.

Every test has the target process make its own ``ioctl(PAGEMAP_SCAN)`` (``Target.kernel_scan``) and
compares the answer with an independent source: ``/proc/PID/smaps``, ``/proc/PID/pagemap``, or what
the test itself did to the pages. Classes are named for the note they check. Where this kernel
behaves differently from what one would expect (stale ``walk_end``, guard pages reported SWAPPED),
the test asserts what the kernel really does, and says so.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.target import (
    ALL_CATEGORIES,
    PM_SCAN_CHECK_WPASYNC,
    PM_SCAN_WP_MATCHING,
    Area,
    Category,
    Region,
    Target,
    TargetError,
)

MIB = 1 << 20
# The kernel walks in PMD-sized steps and gathers regions in a bounce buffer of one entry per page
# of a PMD (PAGEMAP_WALK_SIZE >> PAGE_SHIFT: 512 on x86-64); note 2 depends on both.
PMD_SIZE = int(Path("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size").read_text())
PAGE_SIZE = os.sysconf("SC_PAGESIZE")
BOUNCE_REGIONS = PMD_SIZE // PAGE_SIZE

# /proc/PID/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst).
PM_PRESENT = 1 << 63
PM_SWAPPED = 1 << 62
PM_GUARD = 1 << 58
PM_UFFD_WP = 1 << 57
PM_SOFT_DIRTY = 1 << 55


# ---- helpers -------------------------------------------------------------------------------------


def per_page(target: Target, area: Area, **scan: Any) -> list[int]:
    """Categories of every page of *area* from one unfiltered kernel scan.

    Asserts that the regions cover each page exactly once, which an unfiltered scan must (note 4).
    """
    _, regions = target.kernel_scan(area.start, area.end, **scan)
    categories: list[int | None] = [None] * (area.size // target.page_size)
    for start, end, cats in regions:
        for address in range(start, end, target.page_size):
            index = (address - area.start) // target.page_size
            assert categories[index] is None, f"page {index} reported twice"
            categories[index] = cats
    assert None not in categories, "an unfiltered scan left pages of the mapping out"
    return [c for c in categories if c is not None]


def pages_with(categories: list[int], bits: int, *, without: int = 0) -> set[int]:
    """Indices of the pages that have all of *bits* and none of *without*."""
    return {i for i, c in enumerate(categories) if c & bits == bits and not c & without}


def entries_with(entries: list[int], bits: int, *, without: int = 0) -> set[int]:
    """Indices of the ``/proc/PID/pagemap`` entries that have all of *bits* and none of *without*."""
    return {i for i, e in enumerate(entries) if e & bits == bits and not e & without}


def merged(regions: list[Region]) -> list[Region]:
    """Adjacent regions with equal categories joined, as the kernel joins them within one call."""
    out: list[Region] = []
    for start, end, cats in regions:
        if out and out[-1][1] == start and out[-1][2] == cats:
            out[-1] = (out[-1][0], end, cats)
        else:
            out.append((start, end, cats))
    return out


def covered(regions: list[Region]) -> list[tuple[int, int]]:
    """The address ranges the regions cover, adjacent ones joined."""
    return [(s, e) for s, e, _ in merged([(s, e, 0) for s, e, _ in regions])]


def scan_resuming(
    target: Target, start: int, end: int, *, vec_len: int, **scan: Any
) -> tuple[list[Region], int]:
    """A complete scan of ``[start, end)`` from as many calls of *vec_len* regions as it takes.

    Resumes at ``max(walk_end, end of the last region)`` (notes 1, 2) and fails on a call that makes
    no progress instead of looping. Returns the merged regions and the number of calls.
    """
    regions: list[Region] = []
    calls = 0
    while True:
        walk_end, got = target.kernel_scan(start, end, vec_len=vec_len, **scan)
        calls += 1
        regions += got
        if len(got) < vec_len:
            return merged(regions), calls
        resume = max(walk_end, got[-1][1])
        assert resume > start, f"no progress at {start:#x}: walk_end {walk_end:#x}"
        if resume >= end:
            return merged(regions), calls
        start = resume


# ---- note 1: resume from walk_end ----------------------------------------------------------------


class TestNote1WalkStopsEarly:
    """The walk stops when the vector is full or ``max_pages`` is reached; resuming completes it."""

    def test_small_vector_stops_early_and_resuming_completes(self, target: Target) -> None:
        area = target.anon("a", 64)
        target.write(area, 0, 32, step=2)  # 64 one-page regions: present, absent, present, ...
        _, truth = target.kernel_scan(area.start, area.end)
        assert len(truth) == 64

        walk_end, first = target.kernel_scan(area.start, area.end, vec_len=5)
        assert first == truth[:5]
        assert walk_end == truth[5][0], "walk_end must be where the first region left out begins"

        regions, calls = scan_resuming(target, area.start, area.end, vec_len=5)
        assert regions == merged(truth)
        assert calls == 13

    def test_max_pages_stops_early_and_resuming_completes(self, target: Target) -> None:
        area = target.anon("a", 64)
        target.write(area, 0, 32, step=2)
        present = int(Category.PRESENT)
        _, truth = target.kernel_scan(area.start, area.end, anyof=present)
        assert len(truth) == 32

        walk_end, first = target.kernel_scan(area.start, area.end, anyof=present, max_pages=3)
        assert first == truth[:3]
        assert walk_end == truth[3][0]

        collected: list[Region] = []
        start = area.start
        while start < area.end:
            walk_end, got = target.kernel_scan(start, area.end, anyof=present, max_pages=3)
            collected += got
            assert walk_end > start, f"no progress at {start:#x}"
            start = walk_end
        assert collected == truth

    @pytest.mark.root
    @pytest.mark.hugetlb
    def test_partial_hugetlb_wp_makes_no_progress(self, target: Target, hugepages: int) -> None:
        """WP_MATCHING over part of a written hugetlb page: nothing reported, ``walk_end == start``.

        ``start = walk_end`` would loop forever here: the reason for the no-progress guard.
        """
        area = target.hugetlb("h", 1)
        target.uffd_wp(area)
        target.write(area, 0)
        start, end = area.start + MIB, area.start + MIB + MIB // 2
        walk_end, regions = target.kernel_scan(start, end, flags=PM_SCAN_WP_MATCHING, mask=Category.WRITTEN)
        assert (walk_end, regions) == (start, [])
        assert all(c & Category.WRITTEN for c in per_page(target, area)), "the page is written"


# ---- note 2: walk_end can be wrong ---------------------------------------------------------------


@pytest.fixture(scope="class")
def sparse_gib(target_binary: Path) -> Iterator[tuple[Target, Area]]:
    """A target with 1 GiB of which every other page has been written: 131072 lone present pages."""
    with Target(target_binary) as target:
        area = target.reserve("gib", 1 << 30)
        target.write(area, 0, area.size // target.page_size // 2, step=2)
        yield target, area


class TestNote2WalkEnd:
    """``walk_end`` after a walk that restarted its bounce buffer: the regions are right, it is not."""

    present = int(Category.PRESENT)

    def test_every_present_page_is_returned(self, sparse_gib: tuple[Target, Area], tmp_path: Path) -> None:
        target, area = sparse_gib
        _, regions = target.kernel_scan_to(tmp_path / "r", area.start, area.end, anyof=self.present)
        entries = target.pagemap_entries(area.start, area.end)
        expected = [
            (area.start + i * target.page_size, area.start + (i + 1) * target.page_size)
            for i in sorted(entries_with(entries, PM_PRESENT))
        ]
        assert len(expected) == area.size // target.page_size // 2
        assert [(s, e) for s, e, _ in regions] == expected
        assert len(regions) * target.page_size == target.smaps(area)["Rss"]

    def test_walk_end_is_stale_after_a_complete_walk(
        self, sparse_gib: tuple[Target, Area], tmp_path: Path, record_property: Any
    ) -> None:
        """Observed on 6.18: the walk is complete, yet ``walk_end`` is where the kernel last restarted
        its walk, the start of the last bounce-buffer load (512 regions, 4 MiB here) short of ``end``.
        If this fails, the kernel changed: revisit kernel-notes 2 and the service's correction."""
        target, area = sparse_gib
        walk_end, regions = target.kernel_scan_to(
            tmp_path / "r", area.start, area.end, anyof=self.present, vec_len=1 << 18
        )
        record_property("walk_end_short_of_end", area.end - walk_end)
        assert len(regions) < 1 << 18, "complete: fewer regions than the vector holds"
        assert walk_end == regions[-BOUNCE_REGIONS][0]
        assert area.end - walk_end == BOUNCE_REGIONS * 2 * target.page_size

    def test_walk_end_is_exact_up_to_one_bounce_buffer(self, sparse_gib: tuple[Target, Area]) -> None:
        """The same walk over a range of exactly 512 regions ends right; one region more does not."""
        target, area = sparse_gib
        end = area.start + 2 * BOUNCE_REGIONS * target.page_size
        walk_end, regions = target.kernel_scan(area.start, end, anyof=self.present)
        assert (len(regions), walk_end) == (BOUNCE_REGIONS, end)

        end += 2 * target.page_size
        walk_end, regions = target.kernel_scan(area.start, end, anyof=self.present)
        assert len(regions) == BOUNCE_REGIONS + 1
        assert walk_end == regions[-1][0], "stale: the start of the second bounce-buffer load"

    def test_exact_fill_walk_end_short_and_resume_repeats_regions(
        self, sparse_gib: tuple[Target, Area], tmp_path: Path, record_property: Any
    ) -> None:
        """Vector filled exactly at the end of the range: the caller cannot tell the walk is done,
        and ``walk_end`` is short. Resuming there returns the last 512 regions a second time;
        resuming at ``max(walk_end, end of the last region)`` does not."""
        target, area = sparse_gib
        n = area.size // target.page_size // 2
        walk_end, regions = target.kernel_scan_to(
            tmp_path / "r", area.start, area.end, anyof=self.present, vec_len=n
        )
        record_property("exact_fill_walk_end_short_of_end", area.end - walk_end)
        assert len(regions) == n
        assert walk_end == regions[-BOUNCE_REGIONS][0]

        _, again = target.kernel_scan(walk_end, area.end, anyof=self.present, vec_len=n)
        assert again == regions[-BOUNCE_REGIONS:], "the same 512 regions, returned twice"

        resume = max(walk_end, regions[-1][1])
        walk_end, rest = target.kernel_scan(resume, area.end, anyof=self.present, vec_len=n)
        assert (rest, walk_end) == ([], area.end)


# ---- note 3: return_mask decides merging ---------------------------------------------------------


class TestNote3ReturnMask:
    def test_regions_merge_when_masked_categories_are_equal(self, target: Target) -> None:
        area = target.anon("a", 32)
        target.write(area, 0, 8)
        target.read(area, 8, 8)  # the zero page: PRESENT|PFNZERO
        target.write(area, 20, 4, step=2)
        target.guard(area, 28, 2)
        _, full = target.kernel_scan(area.start, area.end, return_mask=ALL_CATEGORIES)

        counts = {}
        for mask in (ALL_CATEGORIES, Category.PRESENT, Category.PFNZERO, Category.GUARD, Category.WRITTEN, 0):
            expected = merged([(s, e, c & mask) for s, e, c in full])
            _, got = target.kernel_scan(area.start, area.end, return_mask=mask)
            assert got == expected, f"return_mask={mask!r}"
            counts[int(mask)] = len(got)
        assert counts[ALL_CATEGORIES] > counts[Category.PRESENT] > counts[0] == 1


# ---- note 4: what an unfiltered scan covers ------------------------------------------------------


class TestNote4Coverage:
    def test_unpopulated_pages_of_a_mapping_are_reported(self, target: Target) -> None:
        area = target.anon("a", 64)
        target.write(area, 10, 3)
        categories = per_page(target, area)  # asserts every page of the mapping is covered
        smaps = target.smaps(area)
        assert len(categories) * target.page_size == smaps["Size"]
        assert len(pages_with(categories, Category.PRESENT)) * target.page_size == smaps["Rss"]

    def test_gaps_between_mappings_are_never_reported(self, target: Target) -> None:
        areas = [target.anon(name, 8) for name in ("a", "b", "c")]
        target.unmap("b")
        lo = min(a.start for a in areas) - 4 * target.page_size
        hi = max(a.end for a in areas) + 4 * target.page_size
        # A small vector comes from the heap: a large one would be mapped, right next to the areas.
        _, regions = target.kernel_scan(lo, hi, return_mask=0, vec_len=64)
        vmas = covered(
            [(max(v.start, lo), min(v.end, hi), 0) for v in target.vmas() if v.start < hi and lo < v.end]
        )
        assert covered(regions) == vmas
        assert len(vmas) > 1, "the range must contain a gap for this test to mean anything"

    def test_pfnmap_mappings_are_skipped(self, target: Target) -> None:
        """A whole-address-space scan covers every VMA except ``VM_PFNMAP`` ones (``pf`` in smaps
        ``VmFlags``: ``[vvar]``); ``[vsyscall]`` lies above the user address limit."""
        top = max(v.end for v in target.vmas() if v.end <= 1 << 47)
        # A buffer of 96 KiB comes from the heap, so the scan maps nothing new while it runs.
        _, regions = target.kernel_scan(0, top, return_mask=0, vec_len=4096)
        vmas = target.vmas()
        expected = covered([(v.start, v.end, 0) for v in vmas if v.end <= top and "pf" not in v.flags])
        assert covered(regions) == expected
        assert any("pf" in v.flags for v in vmas), "no VM_PFNMAP mapping to see skipped"


# ---- note 5: unknown category bits ---------------------------------------------------------------


class TestNote5UnknownCategory:
    @pytest.mark.parametrize("field", ["inverted", "mask", "anyof", "return_mask"])
    def test_unknown_bit_is_einval(self, target: Target, field: str) -> None:
        area = target.anon("a", 1)
        target.kernel_scan(area.start, area.end, **{field: ALL_CATEGORIES})
        with pytest.raises(TargetError) as excinfo:
            target.kernel_scan(area.start, area.end, **{field: 1 << 20})
        assert excinfo.value.errno == errno.EINVAL

    def test_this_kernel_knows_exactly_the_abi_categories(self, target: Target) -> None:
        """A one-page probe of each bit finds exactly the header's nine categories (GUARD included).
        A newer kernel adding a category fails this test: update the ABI header and the service."""
        area = target.anon("a", 1)
        supported = set()
        for bit in range(64):
            try:
                target.kernel_scan(area.start, area.end, return_mask=1 << bit)
            except TargetError as e:
                assert e.errno == errno.EINVAL
            else:
                supported.add(1 << bit)
        assert supported == {int(c) for c in Category}


# ---- note 6: WRITTEN -----------------------------------------------------------------------------


class TestNote6Written:
    def test_outside_async_wp_every_page_is_written(self, target: Target) -> None:
        """Even pages never touched, and zero-page mappings, report WRITTEN."""
        area = target.anon("a", 16)
        target.write(area, 0, 4)
        target.read(area, 4, 2)
        categories = per_page(target, area)
        assert pages_with(categories, Category.WRITTEN) == set(range(16))
        assert pages_with(categories, Category.PRESENT) == set(range(6))

    def test_inside_async_wp_written_means_written_since_protected(self, target: Target) -> None:
        area = target.anon("u", 32)
        target.write(area, 0, 4)  # before write-protection: not WRITTEN afterwards
        target.uffd_wp(area)
        target.write(area, 8, 4)
        target.read(area, 12)
        categories = per_page(target, area)
        assert pages_with(categories, Category.WRITTEN) == set(range(8, 12))
        assert pages_with(categories, Category.WPALLOWED) == set(range(32))
        # Ground truth: a present page is WRITTEN exactly when its PTE lost the uffd-wp bit.
        entries = target.pagemap_entries(area.start, area.end)
        present = entries_with(entries, PM_PRESENT)
        assert present == {*range(4), *range(8, 13)}
        assert pages_with(categories, Category.WRITTEN) == present - entries_with(entries, PM_UFFD_WP)

    def test_wp_matching_resets_written_and_writes_set_it_again(self, target: Target) -> None:
        area = target.anon("u", 32)
        target.uffd_wp(area)
        target.write(area, 8, 4)
        _, matched = target.kernel_scan(
            area.start, area.end, flags=PM_SCAN_WP_MATCHING, mask=Category.WRITTEN
        )
        assert [(s, e) for s, e, _ in matched] == [(target.page(area, 8), target.page(area, 12))]
        assert pages_with(per_page(target, area), Category.WRITTEN) == set()

        target.write(area, 9)
        target.write(area, 20)
        assert pages_with(per_page(target, area), Category.WRITTEN) == {9, 20}


# ---- notes 7, 7b: SWAPPED, GUARD, and the identities with smaps ----------------------------------


class TestNote7SwappedAndGuard:
    def test_guard_pages_report_guard_swapped_written(self, target: Target) -> None:
        area = target.anon("a", 16)
        target.write(area, 0, 8)
        target.guard(area, 2, 2)
        target.guard(area, 10, 2)
        categories = per_page(target, area)
        entries = target.pagemap_entries(area.start, area.end)
        guarded = {2, 3, 10, 11}
        assert pages_with(categories, Category.GUARD) == guarded == entries_with(entries, PM_GUARD)
        # Observed: guard markers are swap-like PTEs, and /proc/PID/pagemap says "swapped" too.
        assert {categories[i] for i in guarded} == {Category.GUARD | Category.SWAPPED | Category.WRITTEN}
        assert entries_with(entries, PM_SWAPPED) == guarded
        assert target.smaps(area)["Swap"] == 0

    def test_unpopulated_async_wp_pages_report_swapped(self, target: Target) -> None:
        """Never-touched pages of a uffd-WP range hold PTE markers: WPALLOWED|SWAPPED, no swap used."""
        area = target.anon("u", 16)
        target.write(area, 0, 2)
        target.uffd_wp(area)
        categories = per_page(target, area)
        assert {categories[i] for i in range(2, 16)} == {Category.WPALLOWED | Category.SWAPPED}
        entries = target.pagemap_entries(area.start, area.end)
        assert entries_with(entries, PM_SWAPPED | PM_UFFD_WP) == set(range(2, 16))
        assert target.smaps(area)["Swap"] == 0

    @pytest.mark.parametrize("kind", ["anon", "thp", "file"])
    def test_present_minus_pfnzero_pages_equal_rss(self, target: Target, tmp_path: Path, kind: str) -> None:
        if kind == "anon":
            area = target.anon("a", 64)
            target.write(area, 0, 16, step=3)
            target.read(area, 1, 8, step=5)
        elif kind == "thp":
            # A whole PMD zapped: a hole in a THP instead would invite khugepaged to collapse the
            # range again, racing with the comparison.
            area = target.thp("t", 4)
            target.dontneed(area, PMD_SIZE // target.page_size, PMD_SIZE // target.page_size)
        else:
            area = target.file("f", tmp_path / "f", 32, shared=True)
            target.write(area, 0, 8)
            target.read(area, 16, 4)
        categories = per_page(target, area)
        rss_pages = pages_with(categories, Category.PRESENT, without=Category.PFNZERO)
        assert rss_pages, "nothing resident: the test would mean nothing"
        assert len(rss_pages) * target.page_size == target.smaps(area)["Rss"]

    @pytest.mark.root
    @pytest.mark.swap
    def test_swapped_pages_equal_smaps_swap(self, target: Target, swap: Path) -> None:
        area = target.anon("a", 64)
        target.write(area, 0, 32)
        target.read(area, 40, 4)
        target.guard(area, 50, 2)
        target.pageout(area, 0, 16)
        categories = per_page(target, area)
        entries = target.pagemap_entries(area.start, area.end)
        swapped = pages_with(categories, Category.SWAPPED, without=Category.GUARD)
        assert swapped, "MADV_PAGEOUT swapped nothing out"
        assert len(swapped) * target.page_size == target.smaps(area)["Swap"]
        assert swapped == entries_with(entries, PM_SWAPPED, without=PM_GUARD)
        assert {categories[i] for i in swapped} == {Category.SWAPPED | Category.WRITTEN}, "not PRESENT"
        # Counting guard pages too over-reports swap (note 7).
        assert len(pages_with(categories, Category.SWAPPED)) == len(swapped) + 2

    @pytest.mark.root
    @pytest.mark.swap
    def test_swapped_out_shmem_looks_never_allocated(self, target: Target, swap: Path) -> None:
        path = Path("/dev/shm") / f"pmscan-test-{os.getpid()}-{target.pid}"
        try:
            area = target.file("shm", path, 16, shared=True)
            target.write(area, 0, 8)
            untouched = per_page(target, area)[15]
            target.pageout(area, 0, 16)
            assert target.smaps(area)["Swap"] == 8 * target.page_size
            assert set(per_page(target, area)) == {untouched}
            assert untouched & (Category.PRESENT | Category.SWAPPED) == 0
        finally:
            path.unlink(missing_ok=True)


# ---- note 8: huge pages --------------------------------------------------------------------------


def _thp(target: Target, mib: int) -> Area:
    """A THP area of which every PMD is a huge page (so khugepaged has nothing left to change)."""
    area = target.thp("t", mib)
    if target.smaps(area)["AnonHugePages"] != area.size:
        pytest.skip("the kernel did not back every PMD of a MADV_HUGEPAGE area with a huge page")
    return area


class TestNote8HugePages:
    def test_thp_reports_huge_over_each_whole_pmd(self, target: Target) -> None:
        area = _thp(target, 8)
        _, regions = target.kernel_scan(area.start, area.end)
        assert regions == [(area.start, area.end, Category.HUGE | Category.PRESENT | Category.WRITTEN)]
        # Zap a whole PMD (a partial zap would split the THP and invite khugepaged to race us).
        target.dontneed(area, PMD_SIZE // target.page_size, PMD_SIZE // target.page_size)
        _, regions = target.kernel_scan(area.start, area.end)
        huge = [(s, e) for s, e, c in regions if c & Category.HUGE]
        assert all(s % PMD_SIZE == 0 and e % PMD_SIZE == 0 for s, e in huge)
        assert sum(e - s for s, e in huge) == target.smaps(area)["AnonHugePages"] == area.size - PMD_SIZE

    def test_write_in_async_wp_range_splits_the_thp(self, target: Target) -> None:
        """Observed: a write fault in an async-WP THP splits its PMD, so WRITTEN stays per 4 KiB page
        (not only a partial WP_MATCHING splits, as note 8 says)."""
        area = _thp(target, 4)
        target.uffd_wp(area)
        assert target.smaps(area)["AnonHugePages"] == area.size
        target.write(area, 1)
        categories = per_page(target, area)
        assert pages_with(categories, Category.WRITTEN) == {1}
        assert len(pages_with(categories, Category.HUGE)) * target.page_size == area.size - PMD_SIZE
        assert target.smaps(area)["AnonHugePages"] == area.size - PMD_SIZE

    @pytest.mark.root
    @pytest.mark.hugetlb
    def test_hugetlb_reports_huge(self, target: Target, hugepages: int) -> None:
        """HUGE|PRESENT over the whole mapping; its size is in smaps ``Private_Hugetlb``, not ``Rss``."""
        area = target.hugetlb("h", 2)
        categories = per_page(target, area)
        huge = pages_with(categories, Category.HUGE | Category.PRESENT)
        assert huge == set(range(len(categories)))
        smaps = target.smaps(area)
        assert len(huge) * target.page_size == smaps["Private_Hugetlb"] + smaps["Shared_Hugetlb"]
        assert smaps["Rss"] == 0

    @pytest.mark.root
    @pytest.mark.hugetlb
    def test_partial_hugetlb_pages_are_left_out_of_wp_matching(self, target: Target, hugepages: int) -> None:
        """Over ``[1 MiB, 5 MiB)`` of three written 2 MiB pages, only the whole middle page is reported
        and protected; the partial ones stay WRITTEN, unreported, and ``walk_end`` stops at the last."""
        area = target.hugetlb("h", 3)
        target.uffd_wp(area)
        target.write(area, 0, 3, step=PMD_SIZE // target.page_size)
        walk_end, regions = target.kernel_scan(
            area.start + MIB, area.start + 5 * MIB, flags=PM_SCAN_WP_MATCHING, mask=Category.WRITTEN
        )
        assert [(s, e) for s, e, _ in regions] == [(area.start + 2 * MIB, area.start + 4 * MIB)]
        assert walk_end == area.start + 4 * MIB
        written = pages_with(per_page(target, area), Category.WRITTEN)
        pages = PMD_SIZE // target.page_size
        assert written == {*range(pages), *range(2 * pages, 3 * pages)}


# ---- note 9: WP_MATCHING outside async-WP ranges -------------------------------------------------


class TestNote9WpMatching:
    def test_mappings_without_async_wp_are_skipped_silently(self, target: Target) -> None:
        area = target.anon("a", 16)
        target.write(area, 0, 8)
        assert pages_with(per_page(target, area), Category.WRITTEN) == set(range(16))
        walk_end, regions = target.kernel_scan(
            area.start, area.end, flags=PM_SCAN_WP_MATCHING, mask=Category.WRITTEN
        )
        assert (walk_end, regions) == (area.end, [])

    def test_only_async_wp_mappings_match_in_a_mixed_range(self, target: Target) -> None:
        plain = target.anon("a", 8)
        tracked = target.anon("u", 8)
        target.uffd_wp(tracked)
        target.write(plain, 0, 8)
        target.write(tracked, 2, 3)
        lo, hi = min(plain.start, tracked.start), max(plain.end, tracked.end)
        _, regions = target.kernel_scan(lo, hi, flags=PM_SCAN_WP_MATCHING, mask=Category.WRITTEN)
        assert [(s, e) for s, e, _ in regions] == [(target.page(tracked, 2), target.page(tracked, 5))]

    @pytest.mark.parametrize("flags", [PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, PM_SCAN_CHECK_WPASYNC])
    def test_check_wpasync_is_eperm(self, target: Target, flags: int) -> None:
        """With CHECK_WPASYNC, with or without WP_MATCHING (observed: alone too)."""
        tracked = target.anon("u", 8)
        target.uffd_wp(tracked)
        target.kernel_scan(tracked.start, tracked.end, flags=flags, mask=Category.WRITTEN)
        area = target.anon("a", 8)
        with pytest.raises(TargetError) as excinfo:
            target.kernel_scan(area.start, area.end, flags=flags, mask=Category.WRITTEN)
        assert excinfo.value.errno == errno.EPERM


# ---- note 11: soft-dirty -------------------------------------------------------------------------


class TestNote11SoftDirty:
    def test_category_agrees_with_pagemap_bit_55(self, target: Target) -> None:
        """Holds with or without ``CONFIG_MEM_SOFT_DIRTY``: the bit is accepted either way."""
        area = target.anon("a", 16)
        target.write(area, 0, 8)
        target.clear_soft_dirty()
        target.write(area, 2, 3)
        categories = per_page(target, area)
        entries = target.pagemap_entries(area.start, area.end)
        assert pages_with(categories, Category.SOFT_DIRTY) == entries_with(entries, PM_SOFT_DIRTY)

    def test_clear_refs_resets_and_writes_set(self, target: Target, soft_dirty_works: bool) -> None:
        if not soft_dirty_works:
            pytest.skip("soft-dirty does not work here (kernel built without CONFIG_MEM_SOFT_DIRTY)")
        area = target.anon("a", 16)
        target.write(area, 0, 8)
        target.clear_soft_dirty()
        target.write(area, 2, 3)
        assert pages_with(per_page(target, area), Category.SOFT_DIRTY) == {2, 3, 4}

    def test_without_config_the_bit_is_accepted_and_never_set(
        self, target: Target, soft_dirty_works: bool
    ) -> None:
        if soft_dirty_works:
            pytest.skip("soft-dirty works on this kernel")
        area = target.anon("a", 16)
        target.write(area, 0, 8)
        assert target.kernel_scan(area.start, area.end, anyof=Category.SOFT_DIRTY) == (area.end, [])


# ---- note 14b: arguments -------------------------------------------------------------------------


class TestNote14bArguments:
    def _errno(self, target: Target, start: int, end: int, **scan: Any) -> int | None:
        with pytest.raises(TargetError) as excinfo:
            target.kernel_scan(start, end, **scan)
        return excinfo.value.errno

    def test_unaligned_start_is_einval(self, target: Target) -> None:
        area = target.anon("a", 4)
        assert self._errno(target, area.start + 1, area.end) == errno.EINVAL

    def test_end_is_rounded_up_to_a_page(self, target: Target) -> None:
        area = target.anon("a", 4)
        target.write(area, 3)
        walk_end, regions = target.kernel_scan(area.start, area.end - 1)
        assert walk_end == area.end
        assert regions[-1][1] == area.end

    def test_end_before_start_is_efault(self, target: Target) -> None:
        area = target.anon("a", 4)
        assert self._errno(target, area.end, area.start) == errno.EFAULT

    def test_range_beyond_user_address_space_is_efault(self, target: Target) -> None:
        if "la57" in Path("/proc/cpuinfo").read_text():
            pytest.skip("the CPU has 5-level paging: the user address limit is not 0x7ffffffff000")
        limit = (1 << 47) - target.page_size
        assert target.kernel_scan(limit - target.page_size, limit) == (limit, [])
        assert self._errno(target, limit - target.page_size, limit + target.page_size) == errno.EFAULT

    def test_unknown_flag_is_einval(self, target: Target) -> None:
        area = target.anon("a", 4)
        assert self._errno(target, area.start, area.end, flags=1 << 2) == errno.EINVAL

    @pytest.mark.skip(reason="the target's scan command always passes size = sizeof(struct pm_scan_arg)")
    def test_wrong_size_is_einval(self) -> None:
        raise AssertionError("not expressible through the target")

    @pytest.mark.skip(reason="the target's scan command allocates a vector whenever VEC_LEN > 0")
    def test_vec_len_without_vec_is_einval(self) -> None:
        raise AssertionError("not expressible through the target")
