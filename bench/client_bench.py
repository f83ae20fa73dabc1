"""How much the Python SDK adds on top of the raw kernel call, measured in one run.

A target with 1 GiB of anonymous memory, every other page written, is scanned for its
present pages (131072 regions): by the raw C scan (``_pagemap.scan`` on the target's
pagemap fd, one call with a buffer large enough: the physical limit) and through a real
pmscan server over the binary format: ``Client.scan()`` iterating every ``PageRegion``,
``iter_raw()`` taking the raw record chunks, and ``Client.scan_records()`` taking the whole
answer as a ``RegionArray``, over TCP and over the Unix socket; and, to show where
``scan()``'s time goes, the same ``PageRegion`` objects made from the answer's records in memory,
without HTTP (iterating a ``RegionArray``). Printed: each time and its
speed as a fraction of the raw scan's (raw time / time; 1.0 = as fast as the kernel call alone)
against the targets of issue 13: ``scan()`` >= 0.2, ``scan_records()`` >= 0.5.

Run: ``.venv-dev/bin/python bench/client_bench.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pmscan_client import Client, RegionArray  # noqa: E402
from scan_bench import raw_scan  # noqa: E402

from app.pagemap.categories import Category  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402
from tests.support.target import Target, build_target  # noqa: E402

#: The least fraction of the raw scan's speed each way should reach.
TARGETS = {"Client.scan()": 0.2, "scan_records()": 0.5}


def fastest(cases: dict[str, Callable[[], int]], runs: int) -> dict[str, float]:
    """The fastest of ``runs`` timings (seconds) of each case, the cases interleaved round by
    round: on a shared machine the minimum is the measure least disturbed by other load, and
    interleaving exposes every case to the same load."""
    for case in cases.values():
        case()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, case in cases.items():
            started = time.perf_counter()
            case()
            times[name].append(time.perf_counter() - started)
    return {name: min(seconds) for name, seconds in times.items()}


def regions_of(client: Client, pid: int, start: int, end: int) -> Callable[[], int]:
    def scan() -> int:
        return sum(1 for _ in client.scan(pid, start=start, end=end, category_mask=Category.PRESENT))

    return scan


def records_of(client: Client, pid: int, start: int, end: int) -> Callable[[], int]:
    def scan() -> int:
        stream = client.scan(pid, start=start, end=end, category_mask=Category.PRESENT)
        return sum(len(chunk) for chunk in stream.iter_raw()) // 24

    return scan


def array_of(client: Client, pid: int, start: int, end: int) -> Callable[[], int]:
    def scan() -> int:
        return len(client.scan_records(pid, start=start, end=end, category_mask=Category.PRESENT))

    return scan


def objects_of(records: RegionArray) -> Callable[[], int]:
    def make() -> int:
        return sum(1 for _ in records)

    return make


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    when, kernel = time.strftime("%Y-%m-%d"), os.uname().release
    print(f"pmscan client benchmark, {when}, kernel {kernel}, {os.cpu_count()} CPUs")
    with (
        tempfile.TemporaryDirectory() as scratch,
        Target(build_target(Path(scratch))) as target,
        ServerProcess(auth="off") as tcp,
        ServerProcess(auth="off", uds=Path(scratch) / "pmscan.sock") as uds,
        Client(tcp.url) as over_tcp,
        Client(uds=str(uds.uds)) as over_uds,
    ):
        pages = (1 << 30) // target.page_size
        PRESENT = Category.PRESENT  # noqa: N806
        area = target.anon("sparse", pages)
        target.write(area, 0, pages // 2, 2)
        raw = raw_scan(target.pid, area.start, area.end, 1 << 21, category_mask=Category.PRESENT)
        regions = raw()
        for client in (over_tcp, over_uds):
            assert regions_of(client, target.pid, area.start, area.end)() == regions
        cases = {
            "raw C scan": raw,
            "Client.scan() regions, TCP": regions_of(over_tcp, target.pid, area.start, area.end),
            "Client.scan() regions, UDS": regions_of(over_uds, target.pid, area.start, area.end),
            "iter_raw() records,    TCP": records_of(over_tcp, target.pid, area.start, area.end),
            "iter_raw() records,    UDS": records_of(over_uds, target.pid, area.start, area.end),
            "scan_records() array,  TCP": array_of(over_tcp, target.pid, area.start, area.end),
            "scan_records() array,  UDS": array_of(over_uds, target.pid, area.start, area.end),
            "PageRegion objects alone": objects_of(
                over_uds.scan_records(target.pid, start=area.start, end=area.end, category_mask=PRESENT)
            ),
        }
        timings = fastest(cases, runs)
        raw_time = timings.pop("raw C scan")
        print(f"\n1 GiB, every other page written ({regions} regions): raw C scan {raw_time * 1e3:.1f} ms")
        for name, seconds in timings.items():
            speed = raw_time / seconds
            goal = next((t for prefix, t in TARGETS.items() if name.startswith(prefix)), None)
            verdict = "" if goal is None else f"(target >= {goal}) " + ("ok" if speed >= goal else "BELOW")
            print(f"  {name}  {seconds * 1e3:7.1f} ms   {speed:4.2f} of raw   {verdict}")


if __name__ == "__main__":
    main()
