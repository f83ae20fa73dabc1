"""``_pagemap.count_scan`` (the exporter's per-process count, a C loop over the ioctl) against
ground truth: the kernel's own regions (the target scans itself in one call) summed in Python,
``smaps_rollup``, and ``/proc/PID/maps``; its resumption with tiny buffers and spans, its
deadline, its errors; and ``app.export.count.count_process`` built on it."""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from app.export import count
from app.export.count import count_process
from app.pagemap import Category, ProcessGone, ProcessNotFound, _pagemap, probe
from app.pagemap.policy import ProcessCredentials
from app.pagemap.region import RECORD
from tests.support.children import zombie
from tests.support.target import Area, Region, Target

T = TypeVar("T")

EXPORTED = Category.PRESENT | Category.SWAPPED | Category.HUGE | Category.PFNZERO
EVERY = int(Category.PRESENT | Category.SWAPPED | Category.HUGE | Category.PFNZERO | Category.FILE)


#: Regions of the target's own one-call scan: its buffer (24 bytes a region) stays under glibc's
#: 128 KiB mmap threshold, so that it adds no mapping to what it scans.
ONE_CALL = 5000


class Refused(Exception):
    """What the test's authorization rule raises."""


def python_row(regions: list[Region], page_size: int) -> tuple[int, ...]:
    """(pages, pages with bit 0, ..., pages with bit 15) of the regions, in Python."""
    row = [0] * 17
    for start, end, categories in regions:
        pages = (end - start) // page_size
        row[0] += pages
        for bit in range(16):
            if categories >> bit & 1:
                row[1 + bit] += pages
    return tuple(row)


def rollup(pid: int) -> dict[str, int]:
    """smaps_rollup's ``kB`` fields, in bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        fields[name] = int(rest.split()[0]) * 1024
    return fields


@pytest.fixture
def layout(target: Target, tmp_path: Path) -> Target:
    """Dense and sparse anonymous memory, zero pages, THP, a file mapping, a large reservation
    mostly never touched."""
    dense = target.anon("dense", 2048)
    target.write(dense, 0, 2048)
    sparse = target.anon("sparse", 4096)
    target.write(sparse, 0, 256, 16)
    target.read(target.anon("zero", 512), 0, 256, 2)
    target.thp("thp", 8)
    file = target.file("file", tmp_path / "data", 256)
    target.write(file, 0, 128)
    reserved = target.reserve("reserved", 256 << 20)
    target.write(reserved, 0, 64, 1024)
    return target


@pytest.fixture
def pagemap(layout: Target) -> Iterator[int]:
    fd = os.open(f"/proc/{layout.pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
    yield fd
    os.close(fd)


def whole_range(target: Target) -> tuple[int, int]:
    """From the lowest mapping to the highest end below the user address limit."""
    limit = probe().user_address_limit
    vmas = [v for v in target.vmas() if v.end <= limit]
    return vmas[0].start, vmas[-1].end


class TestAgainstTheKernelsRegions:
    @pytest.mark.parametrize(
        ("return_mask", "anyof"),
        [
            (EVERY, 0),
            (int(EXPORTED), 0),
            (int(EXPORTED), int(EXPORTED)),
            (int(Category.HUGE), int(Category.HUGE)),
        ],
        ids=["every", "exported", "exported-filtered", "huge-filtered"],
    )
    @pytest.mark.parametrize(("vec_len", "max_pages"), [(512, 0), (1, 0), (3, 7), (512, 100), (64, 4096)])
    def test_the_same_counts_as_one_call(  # noqa: PLR0917 (pytest's parameters)
        self, layout: Target, pagemap: int, return_mask: int, anyof: int, vec_len: int, max_pages: int
    ) -> None:
        start, end = whole_range(layout)
        _, regions = layout.kernel_scan(start, end, anyof=anyof, return_mask=return_mask, vec_len=ONE_CALL)
        assert len(regions) < ONE_CALL  # the whole answer in one call
        expected = python_row(regions, layout.page_size)
        assert _pagemap.count_scan(
            pagemap,
            start,
            end,
            return_mask=return_mask,
            category_anyof_mask=anyof,
            vec_len=vec_len,
            max_pages=max_pages,
        ) == (end, expected)

    def test_the_whole_user_range_counts_what_the_mappings_hold(self, layout: Target, pagemap: int) -> None:
        """From 0 to the user address limit: gaps between mappings count for nothing."""
        start, end = whole_range(layout)
        limit = probe().user_address_limit
        mask = int(EXPORTED)
        walk_end, row = _pagemap.count_scan(pagemap, 0, limit, return_mask=mask, category_anyof_mask=mask)
        assert walk_end == limit
        assert row == _pagemap.count_scan(pagemap, start, end, return_mask=mask, category_anyof_mask=mask)[1]
        # Without the switch to real-time (a short walk), the same answer.
        unswitched = _pagemap.count_scan(
            pagemap, 0, limit, return_mask=mask, category_anyof_mask=mask, realtime=False
        )
        assert unswitched == (walk_end, row)
        # Unfiltered, every page of every mapping the walk visits is reported: their sizes.
        walked = sum(v.end - v.start for v in layout.vmas() if v.end <= limit and "pf" not in v.flags)
        assert _pagemap.count_scan(pagemap, 0, limit, return_mask=0)[1][0] * layout.page_size == walked


class TestAgainstSmapsRollup:
    def test_present_but_zero_pages_is_rss(self, layout: Target, pagemap: int) -> None:
        """kernel-notes 7b; and HUGE pages cover its AnonHugePages (THP), if any."""
        mask = int(EXPORTED)
        limit = probe().user_address_limit
        _, row = _pagemap.count_scan(
            pagemap, 0, limit, return_mask=mask, category_anyof_mask=mask, max_pages=64
        )
        page = layout.page_size
        present, zero, huge = (
            row[1 + c.bit_length() - 1] for c in (Category.PRESENT, Category.PFNZERO, Category.HUGE)
        )
        fields = rollup(layout.pid)
        assert (present - zero) * page == fields["Rss"]
        assert huge * page >= fields["AnonHugePages"]

    def test_swapped_is_swap(self, target: Target, swap: Path) -> None:
        area = target.anon("swapped", 1024)
        target.write(area, 0, 1024)
        target.pageout(area, 0, 512)
        mask = int(EXPORTED)
        fd = os.open(f"/proc/{target.pid}/pagemap", os.O_RDONLY)
        try:
            _, row = _pagemap.count_scan(
                fd, 0, probe().user_address_limit, return_mask=mask, category_anyof_mask=mask
            )
        finally:
            os.close(fd)
        swapped = row[Category.SWAPPED.bit_length()]
        assert swapped * target.page_size == rollup(target.pid)["Swap"] > 0


class TestTheCorrectedWalkEnd:
    """``scan`` and ``count_scan`` resume at the same corrected ``walk_end`` (one function in C,
    ``scan_step``) where the kernel's own value is wrong (kernel-notes 2): stale after a complete
    walk of more than one bounce buffer of regions (512 here), short when the vector filled
    exactly at the end of the range. Resuming at the kernel's value would count regions twice."""

    PRESENT = int(Category.PRESENT)
    REGIONS = 1024

    @pytest.fixture
    def sparse(self, target: Target) -> Iterator[tuple[Target, Area, int]]:
        """Every other page of 2048 written: 1024 regions of PRESENT, two bounce buffers."""
        area = target.anon("sparse", 2 * self.REGIONS)
        target.write(area, 0, self.REGIONS, 2)
        fd = os.open(f"/proc/{target.pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
        yield target, area, fd
        os.close(fd)

    def test_a_complete_walk_ends_at_end(self, sparse: tuple[Target, Area, int]) -> None:
        target, area, fd = sparse
        present = {"return_mask": self.PRESENT, "category_anyof_mask": self.PRESENT}
        kernel_end, regions = target.kernel_scan(
            area.start, area.end, anyof=self.PRESENT, return_mask=self.PRESENT, vec_len=4096
        )
        assert len(regions) == self.REGIONS
        assert kernel_end < area.end, "the kernel's walk_end is stale here (kernel-notes 2a)"

        records, walk_end, pages = _pagemap.scan(fd, area.start, area.end, vec_len=4096, **present)
        assert (list(RECORD.iter_unpack(records)), walk_end, pages) == (regions, area.end, self.REGIONS)
        row = python_row(regions, target.page_size)
        assert _pagemap.count_scan(fd, area.start, area.end, vec_len=4096, **present) == (area.end, row)

    @pytest.mark.parametrize("vec_len", [REGIONS, 512, 256])
    def test_a_full_vector_resumes_after_its_last_record(
        self, sparse: tuple[Target, Area, int], vec_len: int
    ) -> None:
        target, area, fd = sparse
        present = {"return_mask": self.PRESENT, "category_anyof_mask": self.PRESENT}
        _, regions = target.kernel_scan(
            area.start, area.end, anyof=self.PRESENT, return_mask=self.PRESENT, vec_len=4096
        )
        kernel_end, first = target.kernel_scan(
            area.start, area.end, anyof=self.PRESENT, return_mask=self.PRESENT, vec_len=vec_len
        )
        if vec_len == self.REGIONS:
            assert kernel_end < first[-1][1], "the kernel's walk_end is short here (kernel-notes 2b)"

        records, walk_end, _ = _pagemap.scan(fd, area.start, area.end, vec_len=vec_len, **present)
        assert list(RECORD.iter_unpack(records)) == first
        # At or past every record returned, never past the first one not returned.
        following = regions[vec_len][0] if vec_len < len(regions) else area.end
        assert first[-1][1] <= walk_end <= following
        row = python_row(regions, target.page_size)
        assert _pagemap.count_scan(fd, area.start, area.end, vec_len=vec_len, **present) == (area.end, row)


class TestStops:
    def test_a_past_deadline_starts_no_call(self, layout: Target, pagemap: int) -> None:
        start, end = whole_range(layout)
        walk_end, row = _pagemap.count_scan(
            pagemap, start, end, return_mask=EVERY, deadline=time.monotonic() - 1
        )
        assert (walk_end, sum(row)) == (start, 0)

    def test_a_future_deadline_changes_nothing(self, layout: Target, pagemap: int) -> None:
        start, end = whole_range(layout)
        unbounded = _pagemap.count_scan(pagemap, start, end, return_mask=EVERY)
        assert (
            _pagemap.count_scan(pagemap, start, end, return_mask=EVERY, deadline=time.monotonic() + 60)
            == unbounded
        )

    def test_an_empty_range(self, pagemap: int) -> None:
        assert _pagemap.count_scan(pagemap, 4096, 4096, return_mask=EVERY) == (4096, (0,) * 17)


def _in_a_thread(fn: Callable[[], T]) -> T:
    """``fn()`` in a thread of its own, which ends with it: what it does to its scheduling
    (nice, policy, affinity) leaves the test's threads alone."""
    out: list[T] = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join()
    assert out, "the thread raised"
    return out[0]


def _policy_of(tid: int) -> int | None:
    """The scheduling policy field of /proc/self/task/TID/stat (1: SCHED_FIFO), None once gone."""
    try:
        return int(Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[38])
    except (OSError, IndexError):
        return None


class TestTheThreadsScheduling:
    """Each kernel call runs SCHED_FIFO 1 where the thread may, and the thread returns to its own
    policy and nice value after each (issue 22: a normal thread taken off its CPU inside the walk
    keeps the target's mmap lock for a tick or more)."""

    @pytest.mark.parametrize("policy", [os.SCHED_OTHER, os.SCHED_BATCH], ids=["other", "batch"])
    def test_the_thread_is_left_as_it_was(self, layout: Target, pagemap: int, policy: int) -> None:
        start, end = whole_range(layout)
        expected = _pagemap.count_scan(pagemap, start, end, return_mask=EVERY)

        def count() -> tuple[object, int, int]:
            os.sched_setscheduler(0, policy, os.sched_param(0))
            os.setpriority(os.PRIO_PROCESS, 0, 7)  # this thread's nice value
            got = _pagemap.count_scan(pagemap, start, end, return_mask=EVERY, max_pages=64, vec_len=3)
            return got, os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0)

        assert _in_a_thread(count) == (expected, policy, 7)

    @pytest.mark.skipif(os.cpu_count() == 1, reason="the watching thread needs a CPU of its own")
    def test_the_calls_run_sched_fifo_where_allowed(self, target: Target, tmp_path: Path) -> None:
        try:
            _in_a_thread(lambda: os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1)))
        except PermissionError:
            pytest.skip("this process may not run SCHED_FIFO (no CAP_SYS_NICE, no RLIMIT_RTPRIO)")
        area = target.anon("dense", 65536)  # 256 MiB written: a few ms of walk per count
        target.write(area, 0, 65536)
        fd = os.open(f"/proc/{target.pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
        tid: list[int] = []
        done = threading.Event()

        def count() -> None:
            os.sched_setaffinity(0, {0})
            tid.append(threading.get_native_id())
            deadline = time.monotonic() + 10
            while not done.is_set() and time.monotonic() < deadline:
                _pagemap.count_scan(fd, area.start, area.end, return_mask=EVERY, max_pages=256)
            assert os.sched_getscheduler(0) == os.SCHED_OTHER

        def watch() -> set[int | None]:
            os.sched_setaffinity(0, {1})  # the counting thread, real-time on CPU 0, never waits for it
            seen = set()
            while not tid:
                time.sleep(0.001)
            while os.SCHED_FIFO not in seen and time.monotonic() < started + 10:
                seen.add(_policy_of(tid[0]))
            done.set()
            return seen

        started = time.monotonic()
        counter = threading.Thread(target=count)
        counter.start()
        try:
            seen = _in_a_thread(watch)
        finally:
            done.set()
            counter.join()
            os.close(fd)
        assert os.SCHED_FIFO in seen

    @pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0, reason="needs root's setpriv")
    def test_a_thread_refused_sched_fifo_counts_the_same(self) -> None:
        """Without CAP_SYS_NICE (the DaemonSet's capabilities), the switch is refused: the calls
        run as they are, with the same counts, and the thread stays SCHED_OTHER."""
        script = (
            "import mmap, os, ctypes\n"
            "from app.pagemap import _pagemap\n"
            "area = mmap.mmap(-1, 64 << 20)\n"
            "for i in range(0, 64 << 20, 4096): area[i] = 1\n"
            "start = ctypes.addressof(ctypes.c_char.from_buffer(area))\n"
            "fd = os.open('/proc/self/pagemap', os.O_RDONLY)\n"
            "rows = {_pagemap.count_scan(fd, start, start + (64 << 20), return_mask=2 | 64,"
            " max_pages=m) for m in (0, 512, 512)}\n"
            "print(len(rows), os.sched_getscheduler(0), next(iter(rows))[1][0])\n"
        )
        out = subprocess.run(
            [
                "setpriv",
                "--bounding-set=-all,+sys_ptrace,+dac_override",
                "--inh-caps=-all",
                "--no-new-privs",
                "--",
                sys.executable,
                "-c",
                script,
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
            timeout=60,
        )
        assert out.stdout.split() == ["1", str(os.SCHED_OTHER), str(16384)]


class TestErrors:
    def test_arguments(self, pagemap: int) -> None:
        with pytest.raises(TypeError, match="return_mask"):
            _pagemap.count_scan(pagemap, 0, 4096)  # type: ignore[call-arg]
        with pytest.raises(ValueError, match="vec_len"):
            _pagemap.count_scan(pagemap, 0, 4096, return_mask=1, vec_len=0)
        with pytest.raises(ValueError, match="below start"):
            _pagemap.count_scan(pagemap, 8192, 4096, return_mask=1)

    def test_kernel_errors_are_oserror(self, pagemap: int) -> None:
        with pytest.raises(OSError) as bad_fd:
            _pagemap.count_scan(-1, 0, 4096, return_mask=1)
        assert bad_fd.value.errno == errno.EBADF
        with pytest.raises(OSError) as unknown_bit:
            _pagemap.count_scan(pagemap, 0, 4096, return_mask=1 << 20)
        assert unknown_bit.value.errno == errno.EINVAL
        with pytest.raises(OSError) as unaligned:
            _pagemap.count_scan(pagemap, 1, 4096, return_mask=1)
        assert unaligned.value.errno == errno.EINVAL

    def test_no_leak(self, layout: Target, pagemap: int) -> None:
        start, end = whole_range(layout)

        def once() -> None:
            _pagemap.count_scan(pagemap, start, end, return_mask=EVERY, max_pages=64)
            with contextlib.suppress(OSError):
                _pagemap.count_scan(pagemap, 0, 4096, return_mask=1 << 20)

        for _ in range(50):
            once()
        gc.collect()
        tracemalloc.start()
        try:
            traced = tracemalloc.get_traced_memory()[0]
            for _ in range(500):
                once()
            gc.collect()
            growth = tracemalloc.get_traced_memory()[0] - traced
        finally:
            tracemalloc.stop()
        assert growth < 16 * 1024


class TestCountProcess:
    def test_counts_and_mapped_size(self, layout: Target) -> None:
        page = layout.page_size
        limit = probe().user_address_limit
        start, end = whole_range(layout)
        # The target's own scan first: it touches the target's memory, then the target waits.
        _, regions = layout.kernel_scan(start, end, return_mask=int(EXPORTED), vec_len=ONE_CALL)
        counts = count_process(layout.pid, categories=EXPORTED, page_size=page, span_pages=512)
        row = python_row(regions, page)
        assert counts.by_category == {c: row[c.bit_length()] for c in EXPORTED if row[c.bit_length()]}
        # The mapped size is VmSize: every mapping below the limit, VM_PFNMAP ones ([vvar]) too.
        assert counts.pages * page == sum(v.end - v.start for v in layout.vmas() if v.end <= limit)

    def test_authorize_sees_the_process_and_can_refuse(self, target: Target) -> None:
        seen: list[ProcessCredentials] = []

        def refuse(credentials: ProcessCredentials) -> None:
            seen.append(credentials)
            assert credentials.uids[0] == os.stat(f"/proc/{target.pid}").st_uid
            raise Refused

        with pytest.raises(Refused):
            count_process(target.pid, categories=EXPORTED, page_size=4096, span_pages=0, authorize=refuse)
        assert [(c.pid, c.tgid, c.owner) for c in seen] == [(target.pid, target.pid, os.getuid())]

    def test_status_cannot_be_read_after_the_check(self, target: Target) -> None:
        seen: list[ProcessCredentials] = []
        count_process(target.pid, categories=EXPORTED, page_size=4096, span_pages=0, authorize=seen.append)
        with pytest.raises(RuntimeError, match="after the check"):
            _ = seen[0].uids

    def test_a_kernel_thread_is_not_counted(self) -> None:
        kernel_threads = [pid for pid in _pids() if _is_kernel_thread(pid)]
        if not kernel_threads:
            pytest.skip("no kernel thread is visible in this pid namespace")
        with pytest.raises(ProcessNotFound, match="no user memory"):
            count_process(kernel_threads[0], categories=EXPORTED, page_size=4096, span_pages=0)

    def test_exited_and_reaped(self) -> None:
        with zombie() as pid, pytest.raises(ProcessGone):
            count_process(pid, categories=EXPORTED, page_size=4096, span_pages=16)
        with pytest.raises(ProcessNotFound):
            count_process(pid, categories=EXPORTED, page_size=4096, span_pages=16)


def _pids() -> list[int]:
    return sorted(int(name) for name in os.listdir("/proc") if name.isdigit())


def _is_kernel_thread(pid: int) -> bool:
    """``PF_KTHREAD`` (0x00200000) in field 9 of /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(") ")[2].split()
    except OSError:
        return False
    return bool(int(fields[6]) & 0x00200000)


class TestFallback:
    def test_the_scan_path_counts_the_same(self, layout: Target) -> None:
        """Without the ioctl, count_process counts through open_scan (its backend): the same
        numbers (here through the ioctl backend, the one this kernel has)."""
        page = layout.page_size
        fast = count_process(layout.pid, categories=EXPORTED, page_size=page, span_pages=512)
        slow = count._count_by_scan(
            layout.pid, categories=EXPORTED, page_size=page, span_pages=512, deadline=None, authorize=None
        )
        assert slow == fast


class TestWhatMaxPagesBounds:
    def test_reported_pages_not_the_walk_under_a_filter(self, target: Target) -> None:
        """kernel-notes 20: under category_anyof_mask, one call with max_pages=1 walks a whole
        written area that has no page of the category (written pages are never the zero page,
        THP or not); without a filter it stops after a page."""
        area = target.anon("dense", 2048)
        target.write(area, 0, 2048)
        fd = os.open(f"/proc/{target.pid}/pagemap", os.O_RDONLY)
        try:
            zero = int(Category.PFNZERO)
            records, walk_end, _ = _pagemap.scan(
                fd, area.start, area.end, return_mask=zero, category_anyof_mask=zero, max_pages=1, vec_len=1
            )
            assert (records, walk_end) == (b"", area.end)
            records, walk_end, pages = _pagemap.scan(
                fd, area.start, area.end, return_mask=zero, max_pages=1, vec_len=1
            )
            assert (pages, walk_end) == (1, area.start + target.page_size)
        finally:
            os.close(fd)
