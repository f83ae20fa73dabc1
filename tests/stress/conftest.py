"""Fixtures of the stress tests: a real server (authentication off) and a target with a varied
layout, one of each per module, and the report that ``bench/stress.py`` prints.

Fast versions of these tests run in ``make test``; the long ones are marked ``slow`` and run only
in ``make stress`` (``bench/stress.py``, which sets ``PMSCAN_STRESS=full``: see marks.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.layout import Layout, varied_target
from tests.support.server import ServerProcess

#: Where the tests write the numbers they measured (JSON), when set: ``bench/stress.py`` sets it.
REPORT_ENV = "PMSCAN_STRESS_REPORT"


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    # A watch the fuzzer finds valid runs for up to PMSCAN_WATCH_MAX_SECONDS, ticking all along
    # (interval 0.001 s, count 3.6 million fits the default hour): a quarter of a second keeps every case
    # short; the limit itself has its own tests (tests/http/test_watch.py).
    with ServerProcess(auth="off", watch_max_seconds=0.25) as running:
        yield running


@pytest.fixture(scope="module")
def layout(target_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Layout]:
    with varied_target(target_binary, tmp_path_factory.mktemp("layout")) as running:
        yield running


@pytest.fixture(scope="session")
def stress_report() -> Iterator[dict[str, Any]]:
    """Numbers a test measured, by test: written as JSON to ``$PMSCAN_STRESS_REPORT`` at the end
    (merged into what the file already holds)."""
    report: dict[str, Any] = {}
    yield report
    path = os.environ.get(REPORT_ENV)
    if path and report:
        file = Path(path)
        merged = json.loads(file.read_text()) if file.exists() and file.stat().st_size else {}
        merged.update(report)
        file.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
