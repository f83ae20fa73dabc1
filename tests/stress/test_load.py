"""The load test of ``bench/load_bench.py``, short: each scenario for one second.

wrk drives the server of this module (defaults, authentication off) with ``bench/load/scan.lua``:
``GET /healthz`` (the floor: a request that touches no process), scans of a small process (about
300 mappings) on 1 and 32 connections, and streams of a process
with 262,144 regions, NDJSON and raw records, on 1 connection and on as many as the server has
scan workers. Every answer must be a complete 200: no other status, no 503 (a full pool waits for
a free worker), no body without its trailer, no transport error. No timing is asserted: the
numbers go to the stress report (``make stress`` prints the long run's).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.load_bench import WRK_MISSING, Load, measure, small_target
from tests.support.children import many_regions
from tests.support.server import ServerProcess

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason=WRK_MISSING)

SECONDS = 1
#: Scenarios by name; ``xW`` is the server's worker count.
SCENARIOS = [
    "healthz x1",
    "small x1",
    "small x32",
    "large ndjson x1",
    "large ndjson xW",
    "large binary x1",
    "large binary xW",
]


@pytest.fixture(scope="module")
def load(server: ServerProcess, target_binary: Path, stress_report: dict[str, Any]) -> Iterator[Load]:
    with small_target(target_binary) as small, many_regions() as large:
        result = measure(server, small, large.pid, seconds=SECONDS, baseline_seconds=0.3)
    stress_report["load"] = result.summary()
    yield result


def result_of(load: Load, scenario: str) -> dict[str, Any]:
    name = scenario.replace("xW", f"x{load.workers}")
    (result,) = [r for r in load.results if r["scenario"] == name]
    return result


def test_targets(load: Load) -> None:
    assert 250 <= load.small_mappings <= 350, load.small_mappings
    assert load.raw_small.answers_per_second > 0 and load.raw_large.answers_per_second > 0
    assert load.raw_large.regions >= 262_144


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_answer_complete(load: Load, scenario: str) -> None:
    result = result_of(load, scenario)
    outcomes = result["outcomes"]
    other = {kind: count for kind, count in outcomes.items() if kind != "ok"}
    assert not other, f"{result['scenario']}: {outcomes}; first bad answers: {result['samples']}"
    assert outcomes["ok"] > 0
