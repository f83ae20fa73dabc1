"""The C layer on its own: each function against an independent Python computation,
its error paths, and repeated calls without growing memory (psutil's memleak idea)."""

from __future__ import annotations

import array
import atexit
import contextlib
import errno
import gc
import json
import os
import struct
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.pagemap import Category, ScanFlag, _pagemap, _pagemapfile, category_names
from app.pagemap.region import iter_regions
from tests.support.target import Target

RECORD = struct.Struct("<QQQ")
NAMES = tuple(json.dumps(category_names(v), separators=(",", ":")).encode() for v in range(512))
records_strategy = st.lists(
    st.tuples(st.integers(0, (1 << 64) - 1), st.integers(0, (1 << 64) - 1), st.integers(0, 511)), max_size=50
)


class TestNamesEqualTheAbi:
    """``Category`` and ``ScanFlag`` against the ``PAGE_IS_*`` and ``PM_SCAN_*`` values of the
    header the extension was built with."""

    @pytest.mark.parametrize(("kind", "prefix"), [(Category, "PAGE_IS_"), (ScanFlag, "PM_SCAN_")])
    def test_every_name_and_value(self, kind: type[Category] | type[ScanFlag], prefix: str) -> None:
        exported = {
            n.removeprefix(prefix): getattr(_pagemap, n) for n in dir(_pagemap) if n.startswith(prefix)
        }
        assert exported == {member.name: member.value for member in kind}


class TestStubsEqualTheModules:
    """mypy's stubtest: each ``.pyi`` declares exactly the functions and constants its extension
    registers (one method table each), with the same parameters as their text signatures."""

    @pytest.mark.skipif("ASAN_OPTIONS" in os.environ, reason="a child interpreter cannot load the ASan build")
    def test_stubtest(self) -> None:
        modules = [_pagemap.__name__, _pagemapfile.__name__]
        result = subprocess.run(
            [sys.executable, "-m", "mypy.stubtest", *modules], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


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

    def test_every_digit_count_boundary(self) -> None:
        """The text is written into a bytes object of exactly the size computed from each
        number's digit count: every value where that count changes, and around powers of two."""
        values = {10**k + d for k in range(20) for d in (-1, 0, 1)} | {
            2**k + d for k in range(64) for d in (-1, 0, 1)
        }
        ordered = sorted(v for v in values if 0 <= v < 2**64)
        records = [(v, ordered[-1 - i], 8) for i, v in enumerate(ordered)]
        packed = b"".join(RECORD.pack(*r) for r in records)
        lines = _pagemap.encode_regions(packed, NAMES, b"\n").split(b"\n")
        assert lines.pop() == b""
        assert [(o["start"], o["end"]) for o in map(json.loads, lines)] == [(s, e) for s, e, _ in records]

    def test_unknown_categories_value(self) -> None:
        with pytest.raises(ValueError, match="no name"):
            _pagemap.encode_regions(RECORD.pack(0, 4096, 512), NAMES, b"\n")

    def test_partial_record(self) -> None:
        with pytest.raises(ValueError, match="multiple of 24"):
            _pagemap.encode_regions(b"\0" * 23, NAMES, b"\n")


class TestEncodeRegionsEqualsTheDecodedRecords:
    """The normal path: records the kernel returned, encoded in C, read back with ``json`` and
    compared with the same records decoded in Python (``iter_regions``)."""

    def test_kernel_records(self, target: Target) -> None:
        area = target.anon("a", 4096)
        target.write(area, 0, 1024, 3)
        target.read(area, 1, 512, 5)
        fd = os.open(f"/proc/{target.pid}/pagemap", os.O_RDONLY)
        try:
            records, _, _ = _pagemap.scan(fd, area.start, area.end, return_mask=511, vec_len=4096)
        finally:
            os.close(fd)
        assert len(records) // RECORD.size > 1000
        expected = [
            {"start": r.start, "end": r.end, "categories": category_names(r.categories)}
            for r in iter_regions(records)
        ]
        lines = _pagemap.encode_regions(records, NAMES, b"\n").split(b"\n")
        assert lines.pop() == b""
        assert [json.loads(line) for line in lines] == expected
        document = b"[" + _pagemap.encode_regions(records, NAMES, b",")[:-1] + b"]"
        assert json.loads(document) == expected


#: The buffers that are not bytes, each made from bytes.
other_buffers = pytest.mark.parametrize(
    "kind",
    [bytearray, memoryview, lambda b: memoryview(bytearray(b)), lambda b: array.array("B", b)],
    ids=["bytearray", "memoryview", "memoryview-of-bytearray", "array"],
)


class TestBuffersReadWithoutTheGilAreBytes:
    """The functions that check a buffer with the GIL held and read it again without it take
    only ``bytes``: a mutable buffer changed by another thread in between could make the second
    reading overrun what the first one sized (``encode_regions``) or walk mappings never checked
    (``_pagemapfile.scan``). Every other buffer is refused with ``TypeError`` before any work."""

    @other_buffers
    def test_encode_regions_records(self, kind: Callable[[bytes], object]) -> None:
        with pytest.raises(TypeError, match="must be bytes"):
            _pagemap.encode_regions(kind(RECORD.pack(0, 4096, 8)), NAMES, b"\n")  # type: ignore[arg-type]

    @other_buffers
    def test_encode_regions_separator(self, kind: Callable[[bytes], object]) -> None:
        with pytest.raises(TypeError, match="must be bytes"):
            _pagemap.encode_regions(RECORD.pack(0, 4096, 8), NAMES, kind(b"\n"))  # type: ignore[arg-type]

    @other_buffers
    def test_pagemapfile_scan_vmas(self, kind: Callable[[bytes], object]) -> None:
        vmas = struct.pack("<QQQQ", 0x10000, 0x20000, 0, 0)
        with pytest.raises(TypeError, match="must be bytes"):
            _pagemapfile.scan(0, kind(vmas), 0x10000, 0x20000, vec_len=1)  # type: ignore[arg-type]

    def test_a_bytes_subclass_is_bytes(self) -> None:
        class Records(bytes):
            pass

        packed = RECORD.pack(0, 4096, 8)
        assert _pagemap.encode_regions(Records(packed), NAMES, b"\n") == _pagemap.encode_regions(
            packed, NAMES, b"\n"
        )


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


class TestErrnoOfTheFailedCall:
    """Each OSError carries the errno of the system call that failed, on every error path of both
    extensions, also when a large buffer is freed between the failure and the exception (a
    ``free`` in between may change ``errno``: each path keeps it first)."""

    @pytest.mark.parametrize("vec_len", [1, 1 << 20], ids=["small", "24MB"])
    @pytest.mark.parametrize(
        ("case", "expected"),
        [
            ("scan EBADF", errno.EBADF),
            ("scan ENOTTY", errno.ENOTTY),
            ("scan EINVAL", errno.EINVAL),
            ("count_scan EBADF", errno.EBADF),
            ("count_scan ENOTTY", errno.ENOTTY),
            ("count_scan EINVAL", errno.EINVAL),
            ("vma_at EBADF", errno.EBADF),
            ("vma_at ENOTTY", errno.ENOTTY),
            ("file scan EBADF", errno.EBADF),
            ("file scan EINVAL", errno.EINVAL),
            ("file scan EFAULT", errno.EFAULT),
            ("file scan EPERM", errno.EPERM),
        ],
    )
    def test_errno(
        self, scanned: tuple[Target, int, int, bytes], null: int, case: str, expected: int, vec_len: int
    ) -> None:
        _, pagemap, _, vmas = scanned
        lo, hi = struct.unpack_from("<QQ", vmas)
        calls: dict[str, Callable[[], object]] = {
            "scan EBADF": lambda: _pagemap.scan(-1, lo, hi, vec_len=vec_len),
            "scan ENOTTY": lambda: _pagemap.scan(null, lo, hi, vec_len=vec_len),
            "scan EINVAL": lambda: _pagemap.scan(pagemap, lo, hi, return_mask=1 << 20, vec_len=vec_len),
            "count_scan EBADF": lambda: _pagemap.count_scan(-1, lo, hi, return_mask=1, vec_len=vec_len),
            "count_scan ENOTTY": lambda: _pagemap.count_scan(null, lo, hi, return_mask=1, vec_len=vec_len),
            "count_scan EINVAL": lambda: _pagemap.count_scan(pagemap, lo, hi, return_mask=1 << 20),
            "vma_at EBADF": lambda: _pagemap.vma_at(-1, 0),
            "vma_at ENOTTY": lambda: _pagemap.vma_at(null, 0),
            "file scan EBADF": lambda: _pagemapfile.scan(-1, vmas, lo, hi, vec_len=vec_len),
            "file scan EINVAL": lambda: _pagemapfile.scan(pagemap, vmas, lo + 1, hi, vec_len=vec_len),
            "file scan EFAULT": lambda: _pagemapfile.scan(pagemap, vmas, hi, lo, vec_len=vec_len),
            "file scan EPERM": lambda: _pagemapfile.scan(
                pagemap, vmas, lo, hi, vec_len=vec_len, check_wpasync=True
            ),
        }
        with pytest.raises(OSError) as info:
            calls[case]()
        assert info.value.errno == expected
        assert info.value.strerror == os.strerror(expected)


#: Under AddressSanitizer (``make asan``) freed memory is held in quarantine: RSS says nothing.
SANITIZED = "ASAN_OPTIONS" in os.environ


class TestNoLeaks:
    @pytest.mark.skipif(SANITIZED, reason="RSS grows with ASan's quarantine")
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


@pytest.fixture(scope="module")
def null() -> Iterator[int]:
    """``/dev/null`` open: a file that knows no ioctl."""
    fd = os.open("/dev/null", os.O_RDONLY)
    yield fd
    os.close(fd)


@pytest.fixture(scope="class")
def scanned(target_binary: Path) -> Iterator[tuple[Target, int, int, bytes]]:
    """A target with 2048 regions, its pagemap and maps open, and its mappings packed for
    ``_pagemapfile.scan``."""
    with Target(target_binary) as target:
        area = target.anon("a", 4096)
        target.write(area, 0, 2048, 2)
        pagemap = os.open(f"/proc/{target.pid}/pagemap", os.O_RDONLY)
        maps = os.open(f"/proc/{target.pid}/maps", os.O_RDONLY)
        vmas = b"".join(struct.pack("<QQQQ", s, e, 0, 0) for s, e in _mappings(target.pid))
        try:
            yield target, pagemap, maps, vmas
        finally:
            os.close(pagemap)
            os.close(maps)


class TestNoLeaksOnAnyPath:
    """Every function of both extensions, on its success and its error paths, called thousands
    of times: the memory the Python allocators hold (tracemalloc: objects, buffers of ``bytes``,
    ``PyMem_Malloc``) and the process's RSS do not grow, and the arguments' reference counts come
    back (an unreleased ``Py_buffer`` keeps its ``bytes`` alive).

    Inputs are large where a path allocates (a 480 KB result buffer before the kernel refuses):
    one leaked allocation per call would be gigabytes; any other leak is an object per call.
    """

    CALLS = 3000
    #: Cases whose every call allocates hundreds of KB: a leak shows within fewer calls.
    HEAVY = frozenset({"scan", "file scan", "encode_regions"})
    #: Bytes of traced memory the loop may leave behind (caches, free lists): under 6 per call.
    TRACED_SLACK = 16 * 1024
    RSS_SLACK_KIB = 4 * 1024

    @staticmethod
    def calls(
        scanned: tuple[Target, int, int, bytes],
    ) -> tuple[list[object], dict[str, tuple[Callable[[], object], type[BaseException] | None]]]:
        """Each case: a call and the exception it must raise (None: it succeeds); and the
        arguments the calls share."""
        target, pagemap, maps, vmas = scanned
        lo, hi = _mappings(target.pid)[0][0], _mappings(target.pid)[-1][1]
        many = RECORD.pack(4096, 8192, 8) * 4000  # 96 KB of records, 390 KB of NDJSON
        bad_last = many + RECORD.pack(8192, 12288, 512)
        bounds = b"".join(struct.pack("<QQ", k << 30, (k + 1) << 30) for k in range(50))
        null = os.open("/dev/null", os.O_RDONLY)
        atexit.register(os.close, null)
        big = 20_000  # records of result buffer: 480 KB allocated before the kernel is asked
        file_scan = _pagemapfile.scan
        shared: list[object] = [vmas, many, bad_last, bounds, NAMES]
        return shared, {
            "scan": (lambda: _pagemap.scan(pagemap, lo, hi, return_mask=511, vec_len=big), None),
            "scan EINVAL": (
                lambda: _pagemap.scan(pagemap, lo, hi, return_mask=1 << 20, vec_len=big),
                OSError,
            ),
            "scan EBADF": (lambda: _pagemap.scan(-1, lo, hi, vec_len=big), OSError),
            "scan ENOTTY": (lambda: _pagemap.scan(null, lo, hi, vec_len=big), OSError),
            "scan vec_len": (lambda: _pagemap.scan(pagemap, lo, hi, vec_len=0), ValueError),
            "scan types": (lambda: _pagemap.scan(pagemap, "lo", hi, vec_len=1), TypeError),
            "vma_at": (lambda: _pagemap.vma_at(maps, 0), None),
            "vma_at none": (lambda: _pagemap.vma_at(maps, 1 << 47), None),
            "vma_at ENOTTY": (lambda: _pagemap.vma_at(null, 0), OSError),
            "vma_at EBADF": (lambda: _pagemap.vma_at(-1, 0), OSError),
            "encode_regions": (lambda: _pagemap.encode_regions(many, NAMES, b"\n"), None),
            "encode_regions unknown": (lambda: _pagemap.encode_regions(bad_last, NAMES, b"\n"), ValueError),
            "encode_regions partial": (
                lambda: _pagemap.encode_regions(many + b"\0", NAMES, b"\n"),
                ValueError,
            ),
            "encode_regions names": (
                lambda: _pagemap.encode_regions(many, (*NAMES[:-1], "x"), b","),
                TypeError,
            ),
            "encode_regions many names": (lambda: _pagemap.encode_regions(many, NAMES * 9, b","), ValueError),
            "encode_regions separator": (lambda: _pagemap.encode_regions(many, NAMES, "\n"), TypeError),
            "encode_regions bytearray": (
                lambda: _pagemap.encode_regions(bytearray(many), NAMES, b"\n"),
                TypeError,
            ),
            "count_pages": (lambda: _pagemap.count_pages(many, 4096), None),
            "count_pages bounds": (lambda: _pagemap.count_pages(many, 4096, bounds), None),
            "count_pages odd bounds": (lambda: _pagemap.count_pages(many, 4096, bounds + b"\0"), ValueError),
            "count_pages page_size": (lambda: _pagemap.count_pages(many, 0, bounds), ValueError),
            "file scan": (lambda: file_scan(pagemap, vmas, lo, hi, return_mask=511, vec_len=big), None),
            "file scan EINVAL": (lambda: file_scan(pagemap, vmas, lo + 1, hi, vec_len=big), OSError),
            "file scan EFAULT": (lambda: file_scan(pagemap, vmas, hi, lo, vec_len=big), OSError),
            "file scan EBADF": (lambda: file_scan(-1, vmas, lo, hi, return_mask=511, vec_len=big), OSError),
            "file scan EPERM": (
                lambda: file_scan(pagemap, vmas, lo, hi, category_mask=2, vec_len=big, check_wpasync=True),
                OSError,
            ),
            "file scan vmas": (lambda: file_scan(pagemap, vmas + b"\0", lo, hi, vec_len=big), ValueError),
            "file scan unsorted": (
                lambda: file_scan(pagemap, vmas[32:] + vmas[:32], lo, hi, vec_len=8),
                ValueError,
            ),
            "file scan vec_len": (lambda: file_scan(pagemap, vmas, lo, hi, vec_len=0), ValueError),
            "file scan bytearray": (
                lambda: file_scan(pagemap, bytearray(vmas), lo, hi, vec_len=big),
                TypeError,
            ),
        }

    CASES = (
        "scan", "scan EINVAL", "scan EBADF", "scan ENOTTY", "scan vec_len", "scan types",
        "vma_at", "vma_at none", "vma_at ENOTTY", "vma_at EBADF",
        "encode_regions", "encode_regions unknown", "encode_regions partial", "encode_regions names",
        "encode_regions many names", "encode_regions separator", "encode_regions bytearray",
        "count_pages", "count_pages bounds", "count_pages odd bounds", "count_pages page_size",
        "file scan", "file scan EINVAL", "file scan EFAULT", "file scan EBADF", "file scan EPERM",
        "file scan vmas", "file scan unsorted", "file scan vec_len", "file scan bytearray",
    )  # fmt: skip

    @pytest.mark.parametrize("case", CASES)
    def test_flat(self, scanned: tuple[Target, int, int, bytes], case: str) -> None:
        shared, cases = self.calls(scanned)
        call, raises = cases[case]
        del cases

        def once() -> None:
            if raises is None:
                call()
            else:
                with contextlib.suppress(raises):
                    call()
                    raise AssertionError(f"{case}: no {raises.__name__}")

        references = [sys.getrefcount(a) for a in shared]
        for _ in range(100):
            once()
        gc.collect()
        rss = _rss_kib()
        tracemalloc.start()
        try:
            traced = tracemalloc.get_traced_memory()[0]
            calls = self.CALLS // 10 if case in self.HEAVY else self.CALLS
            for _ in range(calls):
                once()
            gc.collect()
            traced_growth = tracemalloc.get_traced_memory()[0] - traced
        finally:
            tracemalloc.stop()
        rss_growth = _rss_kib() - rss
        assert traced_growth < self.TRACED_SLACK, f"{case}: {traced_growth} bytes after {calls} calls"
        assert SANITIZED or rss_growth < self.RSS_SLACK_KIB, f"{case}: RSS grew by {rss_growth} KiB"
        kept = [now - before for now, before in zip(map(sys.getrefcount, shared), references, strict=True)]
        assert max(kept) <= 0, f"{case}: arguments still referenced: {kept}"


def _rss_kib() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _mappings(pid: int) -> list[tuple[int, int]]:
    """``[start, end)`` of the mappings in ``/proc/PID/maps`` below the user address-space limit."""
    ranges = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        start, end = (int(x, 16) for x in line.split()[0].split("-"))
        if end <= 1 << 47:
            ranges.append((start, end))
    return ranges
