"""A smoke run of bench/export_bench.py (a dozen small processes, one run, no swapfile): it runs to
the end, its two sources agree on the numbers they both report, and it leaves no process behind.
The speed goals are the benchmark's to print (`make bench`), never asserted here."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.bench.run import run_bench

SCRATCH_PREFIX = "pmscan-export-bench-"


def bench_processes(prefix: str = SCRATCH_PREFIX) -> list[int]:
    """Processes whose executable lives in a directory of a benchmark (the targets): one whose
    name starts with ``prefix``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                exe = os.readlink(entry / "exe")
            except OSError:
                continue
            if prefix in exe:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the exporter reads its sibling targets: root (ptrace scope)")
def test_quick_run(tmp_path: Path) -> None:
    before = set(bench_processes())
    result = run_bench("export_bench.py", "--quick", "--no-swap", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "(a) collection time of 12 processes" in out
    assert "(b) worst mmap+munmap stall" in out
    same = re.search(
        r"present-pfnzero (\S+) MiB vs Rss (\S+) MiB; swapped (\S+) MiB vs Swap (\S+) MiB; "
        r"huge (\S+) MiB vs AnonHugePages (\S+) MiB",
        out,
    )
    assert same is not None, out
    ours, theirs = same.groups()[0::2], same.groups()[1::2]
    assert ours == theirs, out
    assert set(bench_processes()) <= before
