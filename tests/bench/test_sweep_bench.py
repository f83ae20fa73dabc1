"""A smoke run of bench/sweep_bench.py (``--quick``: two tiny sizes, two small counts, one round):
both sweeps run to the end; at every point each pmscan server counted the same resident bytes and
processes as ``smaps_rollup`` (the kernel's own sums), the size sweep's target holds what it wrote;
the four plots are drawn, and drawn byte for byte the same again from the results alone; no process
is left behind. The speed and the stall are the benchmark's to print, never asserted here."""

from __future__ import annotations

import json
import os
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.bench.run import run_bench
from tests.bench.test_export_bench import bench_processes

GIB = 1 << 30
PLOTS = ("stall-by-size", "collection-by-size", "collection-by-count", "stall-by-count")
READERS = {"smaps_rollup", "daemonset", "root"}


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the servers read their sibling targets: root (ptrace scope)")
def test_quick_run(tmp_path: Path) -> None:
    before = set(bench_processes("pmscan-sweep-bench-"))
    result = run_bench("sweep_bench.py", "--quick", "--out", str(tmp_path), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = json.loads((tmp_path / "sweep.json").read_text())["runs"]

    assert [p["gib"] for p in run["size"]] == [0.0625, 0.125]
    assert [p["processes"] for p in run["count"]] == [6, 12]
    for sweep, expected in (("size", lambda p: 1), ("count", lambda p: p["processes"])):
        for point in run[sweep]:
            seen = point["agreement"]
            assert set(seen) == READERS
            assert {s["rss"] for s in seen.values()} == {seen["smaps_rollup"]["rss"]}, seen
            assert {s["processes"] for s in seen.values()} == {expected(point)}, seen
            assert set(point["readers"]) == READERS
            for rounds in point["readers"].values():
                assert len(rounds) == 1 and len(rounds[0]["collections"]) == 1
    for point in run["size"]:  # its process's own pages besides the written ones: a few MiB
        written = int(point["gib"] * GIB)
        assert written <= point["agreement"]["smaps_rollup"]["rss"] < written + (16 << 20)

    for name in PLOTS:
        assert ElementTree.parse(tmp_path / f"{name}.svg").getroot().tag.endswith("svg")
    again = tmp_path / "again"
    result = run_bench(
        "sweep_bench.py", "--plot-only", str(tmp_path / "sweep.json"), "--out", str(again), timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in PLOTS:
        assert (again / f"{name}.svg").read_bytes() == (tmp_path / f"{name}.svg").read_bytes(), name
    assert set(bench_processes("pmscan-sweep-bench-")) <= before
