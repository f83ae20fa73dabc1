"""The C layer on its own: each function against an independent Python computation,
its error paths, and repeated calls without growing memory (psutil's memleak idea)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.pagemap import _pagemap, category_names
from tests.support.target import Target

RECORD = struct.Struct("<QQQ")
NAMES = tuple(json.dumps(category_names(v), separators=(",", ":")).encode() for v in range(512))
records_strategy = st.lists(
    st.tuples(st.integers(0, (1 << 64) - 1), st.integers(0, (1 << 64) - 1), st.integers(0, 511)), max_size=50
)


class TestEncodeRegionsEqualsJson:
    @given(records_strategy, st.sampled_from([b"\n", b",", b""]))
    @settings(max_examples=200, deadline=None)
    def test_same_text_as_json_dumps(self, records: list[tuple[int, int, int]], separator: bytes) -> None:
        packed = b"".join(RECORD.pack(*r) for r in records)
        expected = b"".join(
            json.dumps(
                {"start": s, "end": e, "categories": category_names(c)}, separators=(",", ":")
            ).encode()
            + separator
            for s, e, c in records
        )
        assert _pagemap.encode_regions(packed, NAMES, separator) == expected

    def test_unknown_categories_value(self) -> None:
        with pytest.raises(ValueError, match="no name"):
            _pagemap.encode_regions(RECORD.pack(0, 4096, 512), NAMES, b"\n")

    def test_partial_record(self) -> None:
        with pytest.raises(ValueError, match="multiple of 24"):
            _pagemap.encode_regions(b"\0" * 23, NAMES, b"\n")


class TestCountPagesEqualsPython:
    @given(
        st.lists(st.tuples(st.integers(0, 1000), st.integers(1, 50), st.integers(0, 511)), max_size=40),
        st.lists(st.tuples(st.integers(0, 1200), st.integers(1, 300)), max_size=8),
    )
    @settings(max_examples=200, deadline=None)
    def test_totals_and_per_bounds(
        self, runs: list[tuple[int, int, int]], pairs: list[tuple[int, int]]
    ) -> None:
        page = 4096
        records, position = [], 0
        for gap, length, categories in runs:  # sorted, non-overlapping, as the kernel returns them
            start = position + gap
            records.append((start * page, (start + length) * page, categories))
            position = start + length
        packed = b"".join(RECORD.pack(*r) for r in records)

        def row(lo: int, hi: int) -> tuple[int, ...]:
            counts = [0] * 17
            for s, e, c in records:
                n = max(0, min(e, hi) - max(s, lo)) // page
                counts[0] += n
                for bit in range(16):
                    if c >> bit & 1:
                        counts[1 + bit] += n
            return tuple(counts)

        assert _pagemap.count_pages(packed, page) == row(0, 1 << 62)
        bounds, position = [], 0
        for gap, length in pairs:
            start = position + gap
            bounds.append((start * page, (start + length) * page))
            position = start + length
        packed_bounds = b"".join(struct.pack("<QQ", *b) for b in bounds)
        assert _pagemap.count_pages(packed, page, packed_bounds) == [row(lo, hi) for lo, hi in bounds]


class TestScanErrors:
    def test_bad_fd_is_oserror(self) -> None:
        with pytest.raises(OSError) as info:
            _pagemap.scan(-1, 0, 4096, vec_len=1)
        assert info.value.errno == errno.EBADF

    def test_not_a_pagemap_is_enotty(self) -> None:
        fd = os.open("/dev/null", os.O_RDONLY)
        try:
            with pytest.raises(OSError) as info:
                _pagemap.scan(fd, 0, 4096, vec_len=1)
            assert info.value.errno == errno.ENOTTY
        finally:
            os.close(fd)

    def test_a_buffer_is_always_given(self) -> None:
        with pytest.raises(ValueError, match="vec_len"):
            _pagemap.scan(0, 0, 4096, vec_len=0)

    def test_unknown_category_is_einval(self, target: Target) -> None:
        fd = os.open(f"/proc/{target.pid}/pagemap", os.O_RDONLY)
        try:
            with pytest.raises(OSError) as info:
                _pagemap.scan(fd, 0, 4096, return_mask=1 << 20, vec_len=1)
            assert info.value.errno == errno.EINVAL
        finally:
            os.close(fd)


class TestNoLeaks:
    def test_repeated_calls_keep_rss_flat(self, target: Target) -> None:
        area = target.anon("a", 4096)
        target.write(area, 0, 2048, 2)
        fd = os.open(f"/proc/{target.pid}/pagemap", os.O_RDONLY)

        def rss_kib() -> int:
            return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024

        def round_trip() -> None:
            records, _, _ = _pagemap.scan(fd, area.start, area.end, return_mask=511, vec_len=4096)
            _pagemap.encode_regions(records, NAMES, b"\n")
            _pagemap.count_pages(records, 4096, struct.pack("<QQ", area.start, area.end))
            with contextlib.suppress(OSError):
                _pagemap.scan(fd, area.start, area.end, return_mask=1 << 20, vec_len=8)

        try:
            for _ in range(200):
                round_trip()
            before = rss_kib()
            for _ in range(2000):
                round_trip()
            grown = rss_kib() - before
        finally:
            os.close(fd)
        # Each round trip allocates ~100 KiB of results; a leak of them would show as ~200 MB.
        assert grown < 8 * 1024, f"RSS grew by {grown} KiB over 2000 calls"
