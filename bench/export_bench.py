"""The cost of exporting page states, against reading ``/proc/PID/smaps_rollup``, in one run.

What process-exporter, Netdata and telegraf do for per-process memory is read ``smaps_rollup`` of
every process: the kernel visits every page of every mapping under the target's mmap lock. pmscan's
exporter answers with ``PAGEMAP_SCAN`` in bounded address chunks. Both are measured here on the
same processes, in one run, and compared as ratios:

- **collection time**: a scrape of a real pmscan server (``GET /metrics``, values never reused:
  ``PMSCAN_EXPORT_MAX_AGE_SECONDS=0``; the time is the collector's own
  ``pmscan_export_collection_duration_seconds``, the scrape's wall time next to it) against reading
  ``smaps_rollup`` of the same processes with as many threads as the exporter uses workers. Per
  exported category (``present``, ``swapped``, ``huge``) and for the default set. Goal: pmscan at
  least 2x faster. Its ceiling, what no exporter can beat, is ``smaps_rollup``'s time over the
  exporter's kernel calls alone plus finding the processes; goal (issue 22): the exporter at least
  0.9 of that ceiling, per exported category. Where its time goes is printed next to it: listing
  and matching, and counting (each timed in the bench's process, as the exporter runs them), and
  the rest (the hand-offs between its event loop and a scan thread).
- **per process**: the time of ``smaps_rollup`` and of the exporter's count of each layout;
  goal (issue 22): at least 2x faster than ``smaps_rollup`` for a process of 1 GiB resident or more.
- **the stall caused in the target**: a thread of the large target times ``mmap`` + ``munmap`` of
  one page in a loop (both need its mmap lock for writing; ``pmtarget``'s ``stall`` command,
  SCHED_FIFO) while the collections run. The worst pair under pmscan against the worst under
  ``smaps_rollup``, for several values of the exporter's address chunk
  (``PMSCAN_EXPORT_SPAN_BYTES``), next to the worst with no reader at all (the scheduler's own
  delays). The readers run at normal priority, the server as the DaemonSet runs it (no
  CAP_SYS_NICE) unless ``--server`` says otherwise. Each reader's holds of the target's lock are
  traced (``bench/lock_holds.py``): every long wait is printed with the hold behind it, its holder
  and system call, and whether the holder was off its CPU meanwhile. Goals: pmscan's worst stall at
  most a tenth of ``smaps_rollup``'s, and at most 1 ms (issue 22).

The processes: ``--processes`` targets (``tests/target/pmtarget.c``) of six layouts in turn (dense
anonymous, sparse in a large reservation, transparent huge pages, half swapped out, a shared file
mapping, zero-page reads), one of them large: ``--large-gib`` GiB mapped, ``--resident-gib`` GiB of
it resident. Swapped pages need a temporary swapfile (root: ``swapon``, removed at the end);
without one the ``swapped`` comparison is skipped. Every process is killed at the end.

Run: ``make bench`` (or ``.venv-dev/bin/python bench/export_bench.py [--quick]``); as root.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.export.count import COUNT_VEC_LEN, count_process  # noqa: E402
from app.export.counter import ProcessCounter  # noqa: E402
from app.export.groups import parse_groups  # noqa: E402
from app.export.members import find_members  # noqa: E402
from app.pagemap import _pagemap  # noqa: E402
from app.pagemap.categories import Category  # noqa: E402
from app.pagemap.policy import process_rule  # noqa: E402
from app.pagemap.session import probe  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402
from tests.support.swap import SwapUnavailableError, temporary_swap  # noqa: E402
from tests.support.target import Target, build_target  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
import lock_holds  # noqa: E402

GROUP = "bench"
DEFAULT_SPAN = 64 << 20  # PMSCAN_EXPORT_SPAN_BYTES' default
DEFAULT_CATEGORIES = "present,swapped,huge,pfnzero"  # PMSCAN_EXPORT_CATEGORIES' default
UNBOUNDED = 1 << 47  # the whole user address range in one kernel call
LAYOUTS = ("anon", "sparse", "thp", "swapped", "file", "zero")
GOAL_SPEEDUP = 2.0
GOAL_CEILING = 0.9  # issue 22: of smaps_rollup / (kernel calls + finding the processes)
GOAL_LARGE_SPEEDUP = 2.0  # issue 22: per process of LARGE_RESIDENT or more
LARGE_RESIDENT = 1 << 30
GOAL_STALL_RATIO = 0.1
GOAL_STALL_MS = 1.0  # issue 22: at any resident size, the server not real-time
#: How (b) runs the server. "daemonset": as deploy/kubernetes runs it, root with SYS_PTRACE and
#: DAC_OVERRIDE alone (no CAP_SYS_NICE: count_scan cannot make its kernel calls real-time);
#: "root": every capability of root (count_scan's calls run SCHED_FIFO 1); "fifo": the whole
#: server SCHED_FIFO 1 (chrt), as the README's stall table was measured until issue 22.
SERVERS = {
    "daemonset": [
        "setpriv",
        "--bounding-set=-all,+sys_ptrace,+dac_override",
        "--inh-caps=-all",
        "--no-new-privs",
        "--",
    ],
    "root": [],
    "fifo": ["chrt", "--fifo", "1"],
}


@dataclass
class Sizes:
    """Bytes of one collection's answer, by what both sources report."""

    rss: int  # smaps_rollup's Rss; pmscan: present - pfnzero
    swap: int
    anon_huge: int  # smaps_rollup's AnonHugePages; pmscan: huge


def mib(size: int) -> str:
    return f"{size / (1 << 20):,.0f} MiB"


# -- the processes -------------------------------------------------------------------------------


def lay_out(target: Target, layout: str, scratch: Path, swap: bool) -> None:
    """Give ``target`` one of :data:`LAYOUTS` (a few MiB at most)."""
    page = target.page_size
    if layout == "anon":
        area = target.anon("anon", 512)
        target.write(area, 0, 512)
    elif layout == "sparse":
        area = target.reserve("sparse", 256 << 20)
        target.write(area, 0, 1024, (256 << 20) // page // 1024)
    elif layout == "thp":
        target.thp("thp", 4)
    elif layout == "swapped":
        area = target.anon("swapped", 1024)
        target.write(area, 0, 1024)
        if swap:
            target.pageout(area, 0, 512)
    elif layout == "file":
        area = target.file("file", scratch / "shared.data", 512, shared=True)
        target.read(area, 0, 512)
    elif layout == "zero":
        area = target.anon("zero", 1024)
        target.read(area, 0, 1024)


def large(target: Target, mapped: int, resident: int) -> None:
    """``mapped`` bytes reserved, the first ``resident`` of them written: one dense range, the
    walk a reader cannot split unless it chooses to."""
    area = target.reserve("large", mapped)
    target.write(area, 0, resident // target.page_size)


def add_mix(
    targets: list[Target], count: int, *, binary: Path, stack: contextlib.ExitStack, scratch: Path, swap: bool
) -> None:
    """Start targets until there are ``count``, each after the first given the next of
    :data:`LAYOUTS` in turn; they end with ``stack``."""
    while len(targets) < count:
        target = stack.enter_context(Target(binary))
        lay_out(target, LAYOUTS[(len(targets) - 1) % len(LAYOUTS)], scratch, swap)
        targets.append(target)


# -- the two readers -----------------------------------------------------------------------------


_ROLLUP_FIELDS = ((b"\nRss:", "rss"), (b"\nSwap:", "swap"), (b"\nAnonHugePages:", "anon_huge"))
_READ = os.O_RDONLY | os.O_CLOEXEC


def read_rollup(pid: int) -> dict[str, int]:
    """The three fields of ``pid``'s smaps_rollup, in bytes: one read(2) of the file (it is well
    under a page) and the fields found in its bytes, as a compiled reader (process-exporter's
    Go, Netdata's C) does. A text-mode open, a decode and a loop over every line cost more here
    than the kernel's own work for a small process, a cost of Python and not of smaps_rollup,
    which must not be counted against it."""
    try:
        fd = os.open(f"/proc/{pid}/smaps_rollup", _READ)
    except (FileNotFoundError, ProcessLookupError):
        return {}
    try:
        text = os.read(fd, 8192)
    except ProcessLookupError:
        return {}
    finally:
        os.close(fd)
    values = {}
    for field, name in _ROLLUP_FIELDS:
        at = text.find(field)
        if at >= 0:
            values[name] = int(text[at + len(field) : text.index(b"k", at)]) * 1024
    return values


def discover(exe: re.Pattern[str]) -> Iterator[int]:
    """The pids whose executable matches ``exe`` (the whole path), found the way an exporter finds
    its processes: every /proc/PID, its exe link. pmscan's collection does the same."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if exe.fullmatch(os.readlink(f"/proc/{entry.name}/exe")):
                    yield int(entry.name)
            except OSError:
                continue


def smaps_rollup_collection(pids: list[int] | re.Pattern[str], threads: int) -> tuple[float, Sizes]:
    """Read smaps_rollup of ``pids`` (or of the processes whose exe matches) with ``threads``
    threads; (seconds, the sums). Finding the processes counts in the time, as it does in
    pmscan's. (Listing in one thread while another reads, as pmscan's exporter does, is slower
    here: measured 2026-12-07, 65 ms against 48 ms for the bench's 300 processes, the threads'
    hand-offs of the GIL costing more than the overlap gains.)"""
    started = time.perf_counter()
    if isinstance(pids, re.Pattern):
        pids = list(discover(pids))
    if threads == 1:
        rollups = [read_rollup(pid) for pid in pids]
    else:
        with ThreadPoolExecutor(threads) as pool:
            rollups = list(pool.map(read_rollup, pids))
    seconds = time.perf_counter() - started
    total = Sizes(0, 0, 0)
    for rollup in rollups:
        total.rss += rollup.get("rss", 0)
        total.swap += rollup.get("swap", 0)
        total.anon_huge += rollup.get("anon_huge", 0)
    return seconds, total


def group_config(binary: Path) -> dict[str, dict[str, str]]:
    """``PMSCAN_EXPORT_GROUPS`` of the bench: one group, the targets by their exe."""
    return {GROUP: {"exe": re.escape(str(binary))}}


def category_mask(categories: str) -> Category:
    """The categories of a comma-separated list, as ``PMSCAN_EXPORT_CATEGORIES`` names them."""
    mask = Category(0)
    for name in categories.split(","):
        mask |= Category[name.upper()]
    return mask


class Exporter:
    """A real pmscan server exporting the group of the bench's targets; each :meth:`scrape` is a
    fresh collection."""

    def __init__(
        self,
        binary: Path,
        *,
        categories: str,
        concurrency: int,
        span: int,
        realtime: bool = False,
        prefix: list[str] | None = None,
    ) -> None:
        groups = group_config(binary)
        self.server = ServerProcess(
            prefix=["chrt", "--fifo", "1"] if realtime else prefix,
            export_groups=json.dumps(groups),
            export_categories=categories,
            export_max_age_seconds=0,
            export_budget_seconds=120,
            export_concurrency=concurrency,
            export_span_bytes=span,
            workers=max(2, concurrency),
            startup_timeout=60,
        )
        self.client: httpx.Client | None = None

    def __enter__(self) -> Exporter:
        self.server.start()
        self.client = self.server.client(
            headers={"Authorization": f"Bearer {self.server.admin_token}"}, timeout=300
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        self.server.__exit__(None, None, None)

    def scrape(self) -> tuple[float, float, dict[str, float]]:
        """(the collection's own seconds, the scrape's wall seconds, the group's series by name
        and category)."""
        assert self.client is not None
        started = time.perf_counter()
        response = self.client.get("/metrics")
        wall = time.perf_counter() - started
        response.raise_for_status()
        values: dict[str, float] = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.labels.get("group", GROUP) != GROUP:
                    continue
                key = sample.name + "".join(f"/{v}" for k, v in sorted(sample.labels.items()) if k != "group")
                values[key] = sample.value
        if values.get("pmscan_export_incomplete") != 0:
            raise RuntimeError(f"an incomplete collection: {values}")
        return values["pmscan_export_collection_duration_seconds"], wall, values


def pmscan_sizes(values: dict[str, float]) -> Sizes:
    def memory(category: str) -> int:
        return int(values.get(f"pmscan_group_memory_bytes/{category}", 0))

    return Sizes(memory("present") - memory("pfnzero"), memory("swapped"), memory("huge"))


# -- measuring -----------------------------------------------------------------------------------


@contextlib.contextmanager
def stall_probe(target: Target) -> Iterator[Callable[[], dict[str, int]]]:
    """While inside, a thread of ``target`` times mmap+munmap pairs; the yielded function returns
    (and resets) the pairs timed since it was last called."""
    if not target.stall("start")["realtime"]:
        print("  (the probe could not run SCHED_FIFO: its stalls include waits for a CPU)")
    try:
        yield lambda: target.stall("stats")
    finally:
        target.stall("stop")


def worst_ms(stats: dict[str, int]) -> float:
    return stats["max_ns"] / 1e6


def median(values: list[float]) -> float:
    return statistics.median(values)


def verdict(met: bool) -> str:
    return "goal met" if met else "GOAL MISSED"


def finding(exe: re.Pattern[str]) -> float:
    """Seconds to find the processes by their exe, as both readers do it."""
    started = time.perf_counter()
    for _ in discover(exe):
        pass
    return time.perf_counter() - started


def kernel_alone(pids: list[int], categories: str, span: int) -> float:
    """Seconds for the kernel calls alone that a collection makes (each process's whole user
    range, only the pages having one of ``categories`` reported, at most ``span`` bytes of them
    a call: ``_pagemap.count_scan`` as the exporter calls it), on a pagemap opened by path,
    without the rest of pmscan's per-process work (pidfd, statm, the checks, the pool)."""
    mask = int(category_mask(categories))
    limit = probe().user_address_limit
    page = os.sysconf("SC_PAGE_SIZE")
    started = time.perf_counter()
    for pid in pids:
        fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
        try:
            _pagemap.count_scan(
                fd,
                0,
                limit,
                return_mask=mask,
                category_anyof_mask=mask,
                max_pages=span // page,
                vec_len=COUNT_VEC_LEN,
            )
        finally:
            os.close(fd)
    return time.perf_counter() - started


def exporter_parts(binary: Path, categories: str, runs: int) -> tuple[float, float]:
    """Seconds of the two parts of the exporter's collection, in this process, as its threads
    run them: listing /proc and matching the group (``find_members``, the exe of a process whose
    files are kept read once), and counting the members through their kept files
    (``ProcessCounter``, asking the server's rule each time); medians of ``runs``, after a first
    count that opens and keeps them."""
    page = os.sysconf("SC_PAGE_SIZE")
    groups = parse_groups(group_config(binary))
    counter = ProcessCounter(
        categories=category_mask(categories),
        page_size=page,
        span_pages=DEFAULT_SPAN // page,
        keep=1 << 16,
        remember_exe=True,
    )
    rule = process_rule()
    listing, counting = [], []
    try:
        for run in range(runs + 1):
            counter.begin()
            started = time.perf_counter()
            members = find_members(groups, containers=False, known_exe=counter.exe)
            listed = time.perf_counter()
            for member in members:
                counter.count(member.pid, deadline=None, authorize=rule)
            if run:  # the first opened every process
                listing.append(listed - started)
                counting.append(time.perf_counter() - listed)
    finally:
        counter.close()
    return median(listing), median(counting)


def collection_time(
    binary: Path, pids: list[int], categories: list[str], concurrency: int, runs: int, *, fifo: bool
) -> None:
    print(
        f"\n(a) collection time of {len(pids)} processes, median of {runs}, {concurrency} "
        f"thread(s) / scan worker(s) each. smaps_rollup answers Rss, Swap and AnonHugePages in one read;"
        f" 'kernel' is the exporter's kernel calls alone (count_scan on each pagemap, one thread),"
        f" without the rest of its per-process work. Both the"
        f" exporter and the smaps_rollup reader find the processes by their exe in /proc first: that"
        f" time and the kernel's bound how fast any exporter can be (the second line of each)."
        + (
            " Every reader runs SCHED_FIFO 1 here, so that other work on the machine weighs on none."
            if fifo
            else " The readers run at normal priority (not root, or no chrt)."
        )
    )
    exe = re.compile(re.escape(str(binary)))
    print(
        "  'exporter' is the collections after the first, which count through the files the first"
        " kept open (kernel-notes 22); 'first' is the first collection, which opens every process."
        " 'Of the ceiling' is the exporter's x over the ceiling's x (goal"
        f" >= {GOAL_CEILING}); its time is split into listing and matching, counting (both timed in"
        " this process, as the server's threads run them) and the rest: the hand-offs between its"
        " event loop and a scan thread, adding up the counts, and what the same work costs more in"
        " the server than here."
    )
    print(
        f"  {'pmscan, categories':30s} {'first':>9s} {'exporter':>9s} {'(scrape)':>9s} {'kernel':>9s}"
        f" {'smaps_r.':>9s}   smaps_rollup's time / exporter's, first's, kernel's"
    )
    for category in categories:
        own, walls, rollup_times, values = [], [], [], {}
        rollup = Sizes(0, 0, 0)
        with Exporter(
            binary, categories=category, concurrency=concurrency, span=DEFAULT_SPAN, realtime=fifo
        ) as exporter:
            first = exporter.scrape()[0]  # opens every process; the next ones use the kept files
            with realtime(fifo):
                smaps_rollup_collection(exe, concurrency)
                for _ in range(runs):  # in turn, so that the machine's load weighs on both alike
                    seconds, wall, values = exporter.scrape()
                    own.append(seconds)
                    walls.append(wall)
                    seconds, rollup = smaps_rollup_collection(exe, concurrency)
                    rollup_times.append(seconds)
                kernel = median([kernel_alone(pids, category, DEFAULT_SPAN) for _ in range(runs)])
                listing = median([finding(exe) for _ in range(runs)])
                ours_listing, ours_counting = exporter_parts(binary, category, runs)
        rollup_time = median(rollup_times)
        speedup = rollup_time / median(own)
        goal = (
            f"  (goal >= {GOAL_SPEEDUP:.0f}x: {verdict(speedup >= GOAL_SPEEDUP)})"
            if "," not in category
            else ""
        )
        times = "".join(
            f" {t * 1e3:6.1f} ms" for t in (first, median(own), median(walls), kernel, rollup_time)
        )
        ratios = "  ".join(f"{rollup_time / t:5.2f}x" for t in (median(own), first, kernel))
        print(f"  {category:30s}{times}   {ratios}{goal}")
        ceiling = rollup_time / (kernel + listing)
        print(
            f"  {'':30s} finding the processes (both readers do it) {listing * 1e3:.1f} ms: no exporter"
            f" can be faster than kernel + finding, {ceiling:.2f}x"
        )
        of_ceiling = speedup / ceiling
        rest = median(own) - ours_listing - ours_counting
        print(
            f"  {'':30s} of the ceiling: {of_ceiling:.2f}"
            + (
                f" (goal >= {GOAL_CEILING}: {verdict(of_ceiling >= GOAL_CEILING)})"
                if "," not in category
                else ""
            )
            + f"; the exporter's {median(own) * 1e3:.1f} ms: listing and matching"
            f" {ours_listing * 1e3:.1f} ms (finding {listing * 1e3:.1f}), counting"
            f" {ours_counting * 1e3:.1f} ms (kernel {kernel * 1e3:.1f}), the rest {rest * 1e3:.1f} ms"
        )
        if category == DEFAULT_CATEGORIES:
            ours = pmscan_sizes(values)
            print(
                "  the same numbers? pmscan present-pfnzero "
                f"{mib(ours.rss)} vs Rss {mib(rollup.rss)}; swapped {mib(ours.swap)} vs Swap "
                f"{mib(rollup.swap)}; huge {mib(ours.anon_huge)} vs AnonHugePages {mib(rollup.anon_huge)}"
            )


def per_layout(targets: list[Target], layouts: list[str], runs: int) -> None:
    """Median time per process of each layout: smaps_rollup, the ioctl calls alone, and the
    domain's count (what the exporter runs per process in a worker), default categories: the
    first count of a process (``count_process``: pidfd, opens, polls) and a later one through the
    files it kept (``ProcessCounter``)."""
    categories = category_mask(DEFAULT_CATEGORIES)
    page = os.sysconf("SC_PAGE_SIZE")
    span_pages = DEFAULT_SPAN // page
    print(
        f"\n    per process, by layout (median of {runs}):  smaps_rollup  kernel alone   pmscan first"
        "    pmscan kept"
    )
    counter = ProcessCounter(categories=categories, page_size=page, span_pages=span_pages, keep=len(targets))
    try:
        for layout in dict.fromkeys(layouts):
            chosen = [t.pid for t, name in zip(targets, layouts, strict=True) if name == layout]
            rollup, kernel, count, kept = [], [], [], []
            counter.begin()
            for pid in chosen:
                counter.count(pid, deadline=None, authorize=None)  # opens and keeps
            for _ in range(runs):
                rollup.append(smaps_rollup_collection(chosen, 1)[0] / len(chosen))
                kernel.append(kernel_alone(chosen, DEFAULT_CATEGORIES, DEFAULT_SPAN) / len(chosen))
                started = time.perf_counter()
                for pid in chosen:
                    count_process(pid, categories=categories, page_size=page, span_pages=span_pages)
                count.append((time.perf_counter() - started) / len(chosen))
                started = time.perf_counter()
                for pid in chosen:
                    counter.count(pid, deadline=None, authorize=None)
                kept.append((time.perf_counter() - started) / len(chosen))
            print(
                f"    {layout:10s} ({len(chosen):3d} processes)"
                + "".join(f" {median(t) * 1e3:10.3f} ms" for t in (rollup, kernel, count, kept))
            )
            resident = max(read_rollup(pid).get("rss", 0) for pid in chosen)
            if resident >= LARGE_RESIDENT:
                speedup = median(rollup) / median(kept)
                print(
                    f"    {'':26s}{mib(resident)} resident: the exporter's count {speedup:.2f}x"
                    f" faster than smaps_rollup (goal >= {GOAL_LARGE_SPEEDUP:g}x for"
                    f" {LARGE_RESIDENT >> 30} GiB or more: {verdict(speedup >= GOAL_LARGE_SPEEDUP)})"
                )
    finally:
        counter.close()


@contextlib.contextmanager
def realtime(enabled: bool) -> Iterator[None]:
    """Run this process's reads SCHED_FIFO (priority 1, below the probe's 2) while inside."""
    if not enabled:
        yield
        return
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    try:
        yield
    finally:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def can_run_realtime() -> bool:
    if shutil.which("chrt") is None:
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except PermissionError:
        return False
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return True


def _bystander(cpu: int, worst: Any, stop: Any) -> None:  # in a process of its own
    """Sleep 200 us in a loop on ``cpu``, at normal priority, and keep how late it woke."""
    os.sched_setaffinity(0, {cpu})
    while not stop.is_set():
        started = time.perf_counter()
        time.sleep(200e-6)
        late = time.perf_counter() - started - 200e-6
        worst[cpu] = max(worst[cpu], late)


@contextlib.contextmanager
def bystanders() -> Iterator[Callable[[], list[float]]]:
    """A normal task on each CPU that times its wake-ups: what the readers cost the node's other
    work (a real-time reader runs ahead of every normal task of its CPU). The yielded function
    returns (and resets) the worst lateness of each CPU, in seconds."""
    cpus = sorted(os.sched_getaffinity(0))
    worst = multiprocessing.Array("d", max(cpus) + 1, lock=False)
    stop = multiprocessing.Event()
    procs = [multiprocessing.Process(target=_bystander, args=(cpu, worst, stop), daemon=True) for cpu in cpus]
    for proc in procs:
        proc.start()

    def read() -> list[float]:
        out = [worst[cpu] for cpu in cpus]
        for cpu in cpus:
            worst[cpu] = 0.0
        return out

    try:
        yield read
    finally:
        stop.set()
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()


@contextlib.contextmanager
def hogs(count: int) -> Iterator[None]:
    """``count`` CPU-bound processes at normal priority while inside: a busy node's other work."""
    procs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
        for _ in range(count)
    ]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


@dataclass
class Stall:
    """What the probe saw while one reader collected (or while none did)."""

    worst_ms: float  # the longest mmap+munmap pair
    pairs: int
    over_1ms: int
    collections: list[float]  # the reader's own seconds, each collection
    others: list[float]  # the worst wake-up lateness of a normal task on each CPU, seconds
    steal_ms: float = 0.0  # the CPU time the host took from the machine's virtual CPUs meanwhile
    own_ms: float | None = None  # traced: the longest wait behind this reader's own holds
    other_ms: float | None = None  # traced: behind any other process's holds
    report: str = ""  # traced: the longest waits, each with the hold behind it

    def line(self, label: str) -> str:
        if self.own_ms is not None:
            label += f" [own {self.own_ms:.2f}" + (
                f", other {self.other_ms:.1f}]" if self.other_ms and self.other_ms > 1.0 else "]"
            )
        return (
            f"  {label:44s} worst {self.worst_ms:7.2f} ms   ({self.over_1ms} of {self.pairs} pairs"
            " over 1 ms)"
            + (f";  collection {median(self.collections) * 1e3:.0f} ms" if self.collections else "")
            + ";  others "
            + " / ".join(f"{t * 1e3:.1f}" for t in self.others)
            + " ms"
            + f";  stolen by the host {self.steal_ms:.0f} ms"
            + (f"\n{self.report}" if self.report else "")
        )


def steal() -> float:
    """Seconds of CPU time the hypervisor has taken from this machine's CPUs since boot (the
    ``steal`` of /proc/stat, in clock ticks): while it runs something else on a virtual CPU,
    whatever ran there, a reader holding a lock or the probe, stops."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


class StallMeter:
    """The probe's stall, the node's other work's lateness (:func:`bystanders`) and, with
    ``trace``, the holds of the probe's mmap lock (:mod:`lock_holds`), while a reader collects:
    ``with StallMeter(probe, trace=True) as meter: meter.measure(collect, runs)``."""

    def __init__(self, probe: Target, *, trace: bool, top: int = 3) -> None:
        self.probe = probe
        self.why = lock_holds.unavailable() if trace else "not asked for"
        self.top = top
        self._stack = contextlib.ExitStack()
        self._stats: Callable[[], dict[str, int]] | None = None
        self._others: Callable[[], list[float]] | None = None
        self._tracer: lock_holds.LockTrace | None = None

    def __enter__(self) -> StallMeter:
        with contextlib.ExitStack() as stack:
            self._stats = stack.enter_context(stall_probe(self.probe))
            self._others = stack.enter_context(bystanders())
            if self.why is None:
                self._tracer = stack.enter_context(lock_holds.LockTrace(self.probe.pid))
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def idle(self, seconds: float = 1.0) -> Stall:
        """The probe's worst with no reader: the scheduler's own delays."""
        assert self._stats is not None and self._others is not None
        self._stats()
        self._others()
        stolen = steal()
        time.sleep(seconds)
        got = self._stats()
        return Stall(
            worst_ms(got), got["count"], got["over_1ms"], [], self._others(), (steal() - stolen) * 1e3
        )

    def measure(self, collect: Callable[[], float | None], runs: int, server: int | None = None) -> Stall:
        """Run ``collect`` (returning the reader's own seconds, if it knows them) ``runs`` times
        under the probe. ``server`` is the reading process when it is not this one (a pmscan
        server): traced, the longest wait behind its own holds is kept apart from any other
        process's (another reader of the target)."""
        assert self._stats is not None and self._others is not None
        reader = server or os.getpid()
        self._stats()
        if self._tracer is not None:
            self._tracer.start()
        self._others()
        stolen = steal()
        try:
            own = [collect() for _ in range(runs)]
        finally:
            got = self._stats()
            late = self._others()
            stolen = steal() - stolen
            names = {os.getpid(): "bench (the smaps_rollup reader)"}
            if server:
                names[server] = "pmscan server"
            recording = self._tracer.stop(names) if self._tracer is not None else None
        stall = Stall(
            worst_ms(got),
            got["count"],
            got["over_1ms"],
            [t for t in own if t is not None],
            late,
            stolen * 1e3,
        )
        if recording is not None:
            stall.own_ms = recording.worst_behind(reader) * 1e3
            stall.other_ms = 1e3 * max(
                (
                    w.seconds
                    for w in recording.waits
                    if w.longest and recording.owners.get(w.longest.tid, -1) != reader
                ),
                default=0.0,
            )
            stall.report = recording.report(self.top, indent="      ")
        return stall


def stalls(
    binary: Path,
    pids: list[int],
    spans: list[int],
    *,
    runs: int,
    concurrency: int,
    probe: Target,
    servers: list[str],
    rounds: int,
    trace: bool,
    top: int,
) -> None:
    """The worst mmap+munmap stall of the probe while each reader collects ``runs`` times: the
    smaps_rollup loop, then the server run each way of ``servers`` (:data:`SERVERS`) with each of
    ``spans``; all of them in turn, ``rounds`` times. With ``trace``, each reader's holds of the
    probe's mmap lock are recorded (:mod:`lock_holds`) and the longest waits printed with the hold
    behind each."""
    fifo = servers == ["fifo"]
    with StallMeter(probe, trace=trace, top=top) as meter:
        why = meter.why
        print(
            f"\n(b) worst mmap+munmap stall of the large target while {runs} collections run "
            "(pmtarget's stall probe: one pair, then 0.1 ms pause, in a loop, SCHED_FIFO 2)."
            + (
                " Both readers run SCHED_FIFO 1 here (the smaps_rollup loop, the pmscan server), so that"
                " other work on the machine cannot preempt a reader holding the lock: the stalls are"
                " the kernel's lock holds, not the scheduler's."
                if fifo
                else " The smaps_rollup reader runs at normal priority (SCHED_OTHER, as an exporter runs):"
                " a reader preempted while it holds the lock stalls the target too. The server runs"
                " at normal priority too, as the DaemonSet runs it ('daemonset': root with SYS_PTRACE and"
                " DAC_OVERRIDE alone, so count_scan cannot make its calls real-time), or with root's"
                " capabilities ('root': count_scan runs each kernel call SCHED_FIFO 1), or all of it"
                " SCHED_FIFO 1 ('fifo', chrt)."
            )
            + f" {rounds} round(s); in each, every reader in turn."
            + (
                f" Lock holds traced (tracefs): the {top} longest writer waits of each."
                if why is None
                else ""
            )
            + (f" (No lock trace: {why}.)" if why is not None and trace else "")
        )
        print(
            "  'others' is the worst wake-up lateness of a normal task on each CPU (sleeping 200 us in"
            " a loop) meanwhile: what the reader costs the node's other work."
        )
        for round_ in range(1, rounds + 1):
            if rounds > 1:
                print(f"  round {round_} of {rounds}, load average {os.getloadavg()[0]:.1f}")
            idle = meter.idle()
            print(
                f"  {'no reader (1 s)':44s} worst {idle.worst_ms:7.2f} ms   ({idle.pairs} pairs);"
                "  others "
                + " / ".join(f"{t * 1e3:.1f}" for t in idle.others)
                + f" ms;  stolen by the host {idle.steal_ms:.0f} ms"
            )

            def rollup() -> float:
                with realtime(fifo):
                    return smaps_rollup_collection(pids, concurrency)[0]

            rollup_stall = meter.measure(rollup, runs)
            print(rollup_stall.line("smaps_rollup"))
            for server, span in ((server, span) for server in servers for span in spans):
                with Exporter(
                    binary,
                    categories=DEFAULT_CATEGORIES,
                    concurrency=concurrency,
                    span=span,
                    prefix=SERVERS[server] or None,
                ) as exporter:
                    exporter.scrape()  # warm-up: opens and keeps every process
                    name = "unbounded" if span >= UNBOUNDED else mib(span)
                    ours = meter.measure(lambda e=exporter: e.scrape()[0], runs, exporter.server.pid)
                print(ours.line(f"pmscan ({server}), {name}"))
                ratio = ours.worst_ms / rollup_stall.worst_ms if rollup_stall.worst_ms else float("inf")
                print(
                    f"  {'':44s} {ratio:5.3f} of smaps_rollup's (goal <= {GOAL_STALL_RATIO}:"
                    f" {verdict(ratio <= GOAL_STALL_RATIO)}); at most {GOAL_STALL_MS:g} ms:"
                    f" {verdict(ours.worst_ms <= GOAL_STALL_MS)}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=300, help="target processes, the large one included")
    parser.add_argument("--large-gib", type=float, default=8.0, help="the large target's mapping")
    parser.add_argument("--resident-gib", type=float, default=1.0, help="of it resident")
    parser.add_argument("--runs", type=int, default=5, help="collections per measurement")
    parser.add_argument("--concurrency", type=int, default=1, help="scan workers / reader threads")
    parser.add_argument("--no-swap", action="store_true", help="no swapfile: skip the swapped layout")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 12 processes, small, 1 run")
    parser.add_argument(
        "--stall-only", action="store_true", help="only (b), the stall: no collection times, no per-layout"
    )
    parser.add_argument(
        "--no-stall", action="store_true", help="no (b): the collection and per-layout times alone"
    )
    parser.add_argument(
        "--server",
        default="daemonset",
        help="(b): how to run the server, comma-separated, each measured in turn: daemonset (the"
        " default: normal priority, no CAP_SYS_NICE, as deploy/kubernetes), root (root's capabilities:"
        " count_scan's calls SCHED_FIFO), fifo (all of it SCHED_FIFO 1, and the smaps_rollup reader"
        " too; alone)",
    )
    parser.add_argument("--spans", help="(b): PMSCAN_EXPORT_SPAN_BYTES to measure, MiB, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="(b): every reader in turn, this many times")
    parser.add_argument(
        "--hogs",
        type=int,
        default=0,
        help="(b): CPU-bound processes at normal priority meanwhile (a busy node)",
    )
    parser.add_argument("--no-trace", action="store_true", help="(b): no lock-hold trace")
    parser.add_argument("--top", type=int, default=3, help="(b): writer waits shown per reader")
    options = parser.parse_args()
    if options.quick:
        options.processes, options.large_gib, options.resident_gib, options.runs = 12, 0.5, 0.0625, 1
    spans = [4 << 20, DEFAULT_SPAN, 1 << 30, UNBOUNDED]
    if options.quick:
        spans = [DEFAULT_SPAN, UNBOUNDED]
    if set(options.server.split(",")) - set(SERVERS) or (
        "fifo" in options.server and options.server != "fifo"
    ):
        parser.error(f"--server: one or more of {', '.join(SERVERS)}, fifo alone")
    if options.spans:
        spans = [
            UNBOUNDED if s == "unbounded" else int(float(s) * (1 << 20)) for s in options.spans.split(",")
        ]
    print(
        f"pmscan export benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}, kernel {os.uname().release}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n"
        f"command: {' '.join([Path(sys.executable).name, *sys.argv])}"
    )
    with (
        tempfile.TemporaryDirectory(prefix="pmscan-export-bench-") as scratch_name,
        contextlib.ExitStack() as stack,
    ):
        scratch = Path(scratch_name)
        binary = build_target(scratch / "bin")
        swap = False
        if not options.no_swap:
            try:
                stack.enter_context(temporary_swap(scratch, mib=256))
                swap = True
            except SwapUnavailableError as err:
                print(f"no swap ({err}): the swapped layout keeps its pages, swapped is not compared")
        started = time.perf_counter()
        probe = stack.enter_context(Target(binary, timeout=900))  # writing many GiB: minutes
        large(probe, int(options.large_gib * (1 << 30)), int(options.resident_gib * (1 << 30)))
        targets = [probe]
        add_mix(targets, options.processes, binary=binary, stack=stack, scratch=scratch, swap=swap)
        pids = [t.pid for t in targets]
        print(
            f"{len(targets)} processes ({', '.join(LAYOUTS)} in turn; the large one "
            f"{options.large_gib:g} GiB mapped, {options.resident_gib:g} GiB resident) "
            f"ready in {time.perf_counter() - started:.1f} s"
        )
        categories = ["present", "huge", DEFAULT_CATEGORIES]
        if swap:
            categories.insert(1, "swapped")
        if options.quick:
            categories = [DEFAULT_CATEGORIES]
        fifo = can_run_realtime()
        if not options.stall_only:
            collection_time(binary, pids, categories, options.concurrency, options.runs, fifo=fifo)
            with realtime(fifo):
                per_layout(
                    targets,
                    ["large", *(LAYOUTS[i % len(LAYOUTS)] for i in range(len(targets) - 1))],
                    options.runs,
                )
        if not options.no_stall:
            with hogs(options.hogs):
                stalls(
                    binary,
                    pids,
                    spans,
                    runs=options.runs,
                    concurrency=options.concurrency,
                    probe=probe,
                    # unprivileged: as is
                    servers=options.server.split(",") if os.geteuid() == 0 else ["root"],
                    rounds=options.rounds,
                    trace=not options.no_trace,
                    top=options.top,
                )
    print("\nall target processes ended; the swapfile (if any) is off and removed")


if __name__ == "__main__":
    main()
