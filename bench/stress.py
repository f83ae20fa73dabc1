"""``make stress``: the long proofs, then one summary.

1. ``pytest tests/stress`` with the slow tests: the fuzzer's full run (schemathesis, at least
   5,000 requests), the soak (10,000 mixed requests), the faults; each writes what it measured
   to a JSON report.
2. ``bench/load_bench.py``: wrk's load of small-process scans at 1 and 32 connections, large
   streams in parallel, next to the raw ioctl's rate (``make stress`` installs wrk).

Then the numbers: requests fuzzed by operation, the server's descriptors, threads and RSS before
and after the soak, the outcomes of the exit races, the load table. Exits non-zero when a test
failed or the load met an answer other than a complete 200 (503s included).

Run: ``make stress`` (or ``.venv-dev/bin/python bench/stress.py [--seconds S]``, S per load scenario).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.load_bench import print_table  # noqa: E402
from tests.stress.marks import FUZZ_FULL_RUN_REQUESTS  # noqa: E402


def run_tests(report: Path) -> int:
    env = {**os.environ, "PMSCAN_STRESS": "full", "PMSCAN_STRESS_REPORT": str(report)}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/stress"]
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, cwd=REPO, env=env, check=False).returncode


def run_load(results: Path, seconds: float) -> int:
    command = [
        sys.executable,
        str(REPO / "bench" / "load_bench.py"),
        "--seconds",
        str(seconds),
        "--json",
        str(results),
    ]
    print("$", " ".join(command[1:]), flush=True)
    return subprocess.run(command, cwd=REPO, check=False).returncode


def print_summary(report: dict[str, Any], load: dict[str, Any]) -> None:
    print(f"\n== pmscan stress summary, {time.strftime('%Y-%m-%d %H:%M')}, kernel {os.uname().release}")
    fuzz = report.get("fuzz")
    if fuzz:
        print(f"fuzz (schemathesis, full run): {fuzz['requests']} requests")
        for operation, count in sorted(fuzz["by_operation"].items()):
            print(f"    {operation:<42}{count:>6}")
    for name in ("soak", "soak_short"):
        soak = report.get(name)
        if soak:
            before, after = soak["before"], soak["after"]
            rate = soak["requests_per_second"]
            print(f"{name}: {soak['requests']} requests of {soak['kinds']} kinds, {rate}/s")
            for key, unit in (("fds", ""), ("threads", ""), ("rss_kib", " KiB")):
                print(f"    server {key:<8} before {before[key]}{unit}, after {after[key]}{unit}")
            print(f"    scan descriptors left open: {soak['scan_handles_after'] or 'none'}")
    for accept, gone in sorted(report.get("client_gone", {}).items()):
        print(
            f"client gone mid-answer ({accept}): worker free after {gone['worker_free_ms']} ms, "
            f"{gone['regions_scanned']} of {gone['regions_in_all']} regions scanned"
        )
    races = report.get("exit_races")
    if races:
        print(f"targets exiting while scanned, outcomes: {races}")
    if load:
        print(f"\n{load['header']}")
        print_table(load["results"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per load scenario (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pmscan-stress-") as directory:
        report_file, load_file = Path(directory) / "report.json", Path(directory) / "load.json"
        tests = run_tests(report_file)
        load = run_load(load_file, args.seconds)
        report = json.loads(report_file.read_text()) if report_file.exists() else {}
        results = json.loads(load_file.read_text()) if load_file.exists() else {}
    print_summary(report, results)
    fuzzed = report.get("fuzz", {}).get("requests", 0)
    enough = fuzzed >= FUZZ_FULL_RUN_REQUESTS
    print(
        f"\ntests: {'passed' if tests == 0 else 'FAILED'}; load: {'clean' if load == 0 else 'ERRORS'}; "
        f"fuzzed: {fuzzed} requests ({'enough' if enough else f'FEWER than {FUZZ_FULL_RUN_REQUESTS}'})"
    )
    return 0 if tests == load == 0 and enough else 1


if __name__ == "__main__":
    sys.exit(main())
