"""A smoke run of bench/floor_bench.py (one round of one second a server): the four servers answer,
each gets a CPU figure, so does pmscan's small scan and each of its parts, and the run ends with the
least a small scan answer can cost and issue 22's ratio. The numbers are the benchmark's to print
(`make bench`), never asserted here."""

from __future__ import annotations

import re
import shutil

import pytest

from bench.load_bench import WRK_MISSING
from tests.bench.run import run_bench


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason=WRK_MISSING)
def test_quick_run() -> None:
    result = run_bench("floor_bench.py", "--seconds", "1", "--rounds", "1", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    names = (
        "raw ASGI",
        "Starlette",
        "FastAPI",
        "pmscan",
        "pmscan small scan",
        "raw ioctl",
        "open, scan, encode",
        "an empty pool job",
    )
    rows = r"^  (" + "|".join(map(re.escape, names)) + r")\s+(\d+) us "
    costs = dict(re.findall(rows, result.stdout, re.MULTILINE))
    assert set(costs) == set(names), result.stdout
    assert all(int(cost) > 0 for cost in costs.values()), result.stdout
    least = re.search(r"through FastAPI here: (\d+) \+ (\d+) = (\d+) us", result.stdout)
    assert least is not None, result.stdout
    assert int(least[1]) + int(least[2]) == int(least[3]), result.stdout
    ratio = re.search(r"= (\d+) / \((\d+) \+ (\d+)\) = ([\d.]+) .*target: at most 1.5", result.stdout)
    assert ratio is not None, result.stdout
    assert (ratio[2], ratio[3]) == (costs["pmscan"], costs["raw ioctl"]), result.stdout
