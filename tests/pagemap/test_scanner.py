"""The chunked domain scanner against the kernel's own answer (one call, a large buffer).

The target process makes that call on itself for the same state: the scanner, whatever
its chunk size and paging, must return exactly the same regions.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from app.pagemap import (
    Category,
    NotWPAsync,
    ProcessGone,
    ProcessNotFound,
    Scan,
    ScanFlag,
    ScanOptions,
    TargetProcess,
    Unsupported,
    open_scan,
    session,
)
from app.pagemap.region import RECORD
from app.pagemap.scanner import DEFAULT_CHUNK_RECORDS
from tests.support.children import zombie
from tests.support.target import Area, Target

ALL = int(sum(Category))


def records_of(scan: Scan) -> list[tuple[int, int, int]]:
    return list(RECORD.iter_unpack(scan.run()))


def domain_scan(
    target: Target, area: Area, *, chunk_records: int = DEFAULT_CHUNK_RECORDS, **fields: Any
) -> tuple[Scan, list[tuple[int, int, int]]]:
    fields.setdefault("return_mask", ALL)
    options = ScanOptions(start=area.start, end=area.end, **fields)
    scan = open_scan(target.pid, options, chunk_records=chunk_records)
    try:
        return scan, records_of(scan)
    finally:
        scan.close()


@pytest.fixture
def mixed(target: Target) -> Area:
    """An area whose pages take many different states: written, read (zero page),
    untouched, guard, and written again, in runs of different lengths."""
    area = target.anon("mixed", 512)
    target.write(area, 0, 64)
    target.read(area, 64, 32)
    target.write(area, 100, 100, 2)
    target.guard(area, 300, 8)
    target.read(area, 320, 64, 3)
    target.write(area, 400, 112)
    return area


class TestScanEqualsKernelAnswer:
    @pytest.mark.parametrize("chunk_records", [1, 2, 3, 7, 64, 8192])
    def test_every_chunk_size_gives_the_kernel_regions(
        self, target: Target, mixed: Area, chunk_records: int
    ) -> None:
        expected_end, expected = target.kernel_scan(mixed.start, mixed.end)
        scan, got = domain_scan(target, mixed, chunk_records=chunk_records)
        assert got == expected
        assert expected_end == mixed.end
        assert scan.walk_end == mixed.end
        assert scan.regions == len(expected)
        assert scan.pages == sum(e - s for s, e, _ in expected) // target.page_size

    @pytest.mark.parametrize("span_pages", [1, 5, 64])
    def test_regions_cut_by_span_pages_are_joined_again(
        self, target: Target, mixed: Area, span_pages: int
    ) -> None:
        """Each kernel call stops inside a region: its last record ends at walk_end, is held
        back and joined to the next call's first; a chunk whose last record ends before
        walk_end goes out as the kernel gave it. Both come to the kernel's answer in one call."""
        _, expected = target.kernel_scan(mixed.start, mixed.end)
        options = ScanOptions(start=mixed.start, end=mixed.end, return_mask=ALL)
        with closing(open_scan(target.pid, options, chunk_records=4, span_pages=span_pages)) as scan:
            got = records_of(scan)
        assert got == expected
        assert scan.regions == len(expected)

    @pytest.mark.parametrize(
        "masks",
        [
            (Category.PRESENT, 0, 0, ALL),
            (0, Category.PFNZERO | Category.GUARD, 0, ALL),
            (Category.PRESENT, 0, Category.PRESENT, Category.PRESENT),
            (Category.WRITTEN, 0, 0, Category.PRESENT),
            (0, 0, 0, Category.PRESENT | Category.PFNZERO),
        ],
    )
    def test_masks_give_the_kernel_regions(
        self, target: Target, mixed: Area, masks: tuple[int, int, int, int]
    ) -> None:
        mask, anyof, inverted, return_mask = masks
        _, expected = target.kernel_scan(
            mixed.start, mixed.end, mask=mask, anyof=anyof, inverted=inverted, return_mask=return_mask
        )
        _, got = domain_scan(
            target,
            mixed,
            category_mask=mask,
            category_anyof_mask=anyof,
            category_inverted=inverted,
            return_mask=return_mask,
            chunk_records=5,
        )
        assert got == expected

    @pytest.mark.parametrize("max_pages", [1, 10, 63, 64, 65, 200, 5000])
    def test_max_pages_like_the_kernel(self, target: Target, mixed: Area, max_pages: int) -> None:
        _, expected = target.kernel_scan(mixed.start, mixed.end, mask=Category.PRESENT, max_pages=max_pages)
        scan, got = domain_scan(
            target, mixed, category_mask=Category.PRESENT, max_pages=max_pages, chunk_records=3
        )
        assert got == expected
        assert scan.pages == min(max_pages, sum(e - s for s, e, _ in expected) // target.page_size)
        # A correct resume point: at or past every returned page, never past a page not returned.
        assert scan.walk_end >= expected[-1][1]
        _, rest = target.kernel_scan(expected[-1][1], mixed.end, mask=Category.PRESENT)
        if rest:
            assert scan.walk_end <= rest[0][0]
        else:
            assert scan.walk_end == mixed.end

    @pytest.mark.parametrize("max_pages", [1 << 40, 1 << 63, (1 << 64) - 1], ids=["2^40", "2^63", "2^64-1"])
    @pytest.mark.parametrize("span_pages", [0, 7])
    def test_max_pages_past_the_answer_is_no_limit(
        self, target: Target, mixed: Area, max_pages: int, span_pages: int
    ) -> None:
        """Issue 18: any u64 is a max_pages (C's -1 is 2^64-1); the pages left after each chunk
        stay a u64 whatever the chunking, and the answer is the kernel's without a limit."""
        _, expected = target.kernel_scan(mixed.start, mixed.end, mask=Category.PRESENT)
        options = ScanOptions(
            start=mixed.start,
            end=mixed.end,
            category_mask=Category.PRESENT,
            return_mask=ALL,
            max_pages=max_pages,
        )
        scan = open_scan(target.pid, options, chunk_records=3, span_pages=span_pages)
        with scan.target:
            assert records_of(scan) == expected
        assert scan.walk_end == mixed.end
        assert scan.pages == sum(e - s for s, e, _ in expected) // target.page_size

    @pytest.mark.parametrize("field", ["max_pages", "vec_len"])
    @pytest.mark.parametrize("value", [-1, 1 << 64])
    def test_a_count_past_u64_never_reaches_the_c_layer(self, target: Target, field: str, value: int) -> None:
        """The C layer converts without an overflow check (2^64 would become 0, no limit)."""
        area = target.anon("a", 1)
        with pytest.raises(ValueError, match=f"{field} must be a u64"):
            open_scan(target.pid, ScanOptions(start=area.start, end=area.end, **{field: value}))


class TestPaginationThroughWalkEnd:
    @pytest.mark.parametrize("vec_len", [1, 2, 5, 17])
    def test_pages_concatenate_to_the_whole_answer(self, target: Target, mixed: Area, vec_len: int) -> None:
        _, expected = target.kernel_scan(mixed.start, mixed.end)
        collected: list[tuple[int, int, int]] = []
        position, calls = mixed.start, 0
        while position < mixed.end:
            options = ScanOptions(start=position, end=mixed.end, return_mask=ALL, vec_len=vec_len)
            scan = open_scan(target.pid, options, chunk_records=2)
            with scan.target:
                page = records_of(scan)
            assert len(page) <= vec_len
            assert scan.walk_end > position or not page, "no progress"
            collected.extend(page)
            position = scan.walk_end
            calls += 1
            assert calls <= len(expected) + 2
        assert collected == expected

    def test_exact_fit_reports_walk_end_equal_to_end(self, target: Target, mixed: Area) -> None:
        _, expected = target.kernel_scan(mixed.start, mixed.end)
        scan, got = domain_scan(target, mixed, vec_len=len(expected))
        assert got == expected
        assert scan.walk_end == mixed.end, "nothing is left, so walk_end must be end (docs/api.md)"

    @pytest.mark.parametrize("vec_len", [1 << 40, (1 << 64) - 1], ids=["2^40", "2^64-1"])
    def test_vec_len_past_the_answer_is_no_limit(self, target: Target, mixed: Area, vec_len: int) -> None:
        _, expected = target.kernel_scan(mixed.start, mixed.end)
        scan, got = domain_scan(target, mixed, vec_len=vec_len, chunk_records=5)
        assert got == expected
        assert scan.walk_end == mixed.end

    def test_vec_len_zero_walks_to_end_whatever_max_pages(self, target: Target, mixed: Area) -> None:
        """Without a vector the kernel counts no page against max_pages (``pagemap_scan_output()``
        returns first): its walk_end is end. The scanner, which always passes a vector, agrees."""
        kernel_end, nothing = target.kernel_scan(
            mixed.start, mixed.end, mask=Category.PRESENT, max_pages=1, vec_len=0
        )
        assert (kernel_end, nothing) == (mixed.end, [])
        _, expected = target.kernel_scan(mixed.start, mixed.end, mask=Category.PRESENT)
        scan, got = domain_scan(target, mixed, vec_len=0, max_pages=1, category_mask=Category.PRESENT)
        assert got == []
        assert scan.walk_end == mixed.end
        assert scan.pages == sum(e - s for s, e, _ in expected) // target.page_size

    def test_vec_len_zero_reports_nothing_but_walks(self, target: Target, mixed: Area) -> None:
        _, expected = target.kernel_scan(mixed.start, mixed.end, mask=Category.PRESENT)
        scan, got = domain_scan(target, mixed, vec_len=0, category_mask=Category.PRESENT)
        assert got == []
        assert scan.regions == 0
        assert scan.pages == sum(e - s for s, e, _ in expected) // target.page_size
        assert scan.walk_end == mixed.end


@pytest.mark.slow
class TestLargeSparseRange:
    def test_complete_walk_reports_walk_end_at_end(self, target: Target, tmp_path: Path) -> None:
        """1 GiB, every other page written: 131072 regions. The kernel's own walk_end
        comes back short here (kernel-notes 2a); the scanner must say end."""
        area = target.anon("big", 262144)
        target.write(area, 0, 131072, 2)
        kernel_end, expected = target.kernel_scan_to(
            tmp_path / "kernel.bin", area.start, area.end, mask=Category.PRESENT, vec_len=200000
        )
        assert len(expected) == 131072
        for chunk in (8192, 131072, 1 << 20):
            scan, got = domain_scan(target, area, category_mask=Category.PRESENT, chunk_records=chunk)
            assert got == expected
            assert scan.walk_end == area.end, f"kernel said {kernel_end:#x}, end is {area.end:#x}"


class TestWriteTracking:
    def test_wp_matching_resets_written_and_reports_it_once(self, target: Target) -> None:
        area = target.anon("tracked", 64)
        target.uffd_wp(area)
        target.write(area, 3, 5)
        written = {"category_mask": Category.WRITTEN, "return_mask": Category.WRITTEN}
        _, first = domain_scan(target, area, flags=ScanFlag.WP_MATCHING, chunk_records=1, **written)
        assert [(s, e) for s, e, _ in first] == [(target.page(area, 3), target.page(area, 8))]
        _, again = domain_scan(target, area, **written)
        assert again == [], "WP_MATCHING write-protected what it reported"
        target.write(area, 10)
        _, later = domain_scan(target, area, **written)
        assert [(s, e) for s, e, _ in later] == [(target.page(area, 10), target.page(area, 11))]

    def test_vec_len_zero_with_wp_matching_resets_without_reporting(self, target: Target) -> None:
        area = target.anon("tracked", 16)
        target.uffd_wp(area)
        target.write(area, 0, 4)
        scan, got = domain_scan(
            target, area, flags=ScanFlag.WP_MATCHING, vec_len=0, category_mask=Category.WRITTEN
        )
        assert got == []
        assert scan.pages == 4
        _, after = target.kernel_scan(area.start, area.end, mask=Category.WRITTEN)
        assert after == []

    def test_check_wpasync_refuses_unregistered_memory(self, target: Target) -> None:
        area = target.anon("plain", 4)
        target.write(area, 0, 4)
        with pytest.raises(NotWPAsync):
            domain_scan(
                target,
                area,
                flags=ScanFlag.WP_MATCHING | ScanFlag.CHECK_WPASYNC,
                category_mask=Category.WRITTEN,
            )


class TestCategoriesTheKernelLacks:
    """A category bit outside the running kernel's ``PM_SCAN_CATEGORIES`` is its EINVAL; in
    pmscan's vocabulary it is ``Unsupported`` (501): the request is valid, this kernel is older.
    This kernel knows every bit pmscan names, so the probe is made to say it lacks GUARD."""

    @pytest.mark.parametrize(
        "field", ["category_inverted", "category_mask", "category_anyof_mask", "return_mask"]
    )
    def test_is_unsupported_before_any_kernel_call(
        self, target: Target, monkeypatch: pytest.MonkeyPatch, field: str
    ) -> None:
        real = session.probe()
        older = dataclasses.replace(real, categories=real.categories & ~Category.GUARD)
        monkeypatch.setattr(session, "probe", lambda: older)
        area = target.anon("a", 1)
        options = ScanOptions(start=area.start, end=area.end, backend="ioctl", **{field: int(Category.GUARD)})
        with pytest.raises(Unsupported, match="GUARD") as excinfo:
            open_scan(target.pid, options)
        assert excinfo.value.status == 501


class TestTargetIdentity:
    def test_unknown_pid(self) -> None:
        with pytest.raises(ProcessNotFound):
            TargetProcess(4_194_304 + 1)

    def test_kernel_thread_is_refused(self) -> None:
        kthreadd = 2  # the parent of every kernel thread
        with pytest.raises(ProcessNotFound, match="kernel thread"):
            TargetProcess(kthreadd)

    def test_zombie_is_gone(self) -> None:
        with zombie() as pid, pytest.raises(ProcessGone):
            TargetProcess(pid)

    def test_exit_during_the_scan_is_not_an_empty_success(self, target: Target) -> None:
        area = target.anon("data", 8192)
        target.write(area, 0, 4096, 2)
        scan = open_scan(target.pid, ScanOptions(start=area.start, end=area.end), chunk_records=16)
        with scan.target:
            first = scan.next_chunk()
            assert first
            os.kill(target.pid, signal.SIGKILL)
            target._proc.wait()
            with pytest.raises(ProcessGone):
                while not scan.done:
                    scan.next_chunk()
