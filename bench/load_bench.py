"""Load on one real server: small-process scans at 1 and 32 connections, large streams in parallel,
next to the raw ioctl's own rate on the same targets.

The load comes from wrk (Debian's ``wrk`` 4.1: ``apt-get install wrk``, or ``make stress``, which
installs it) with ``bench/load/scan.lua``: keep-alive connections, ``POST /scan`` back to back, and
every answer classified in Lua (a complete 200, a 503, or an error: any other status or a body
without its trailer). wrk is written in C: it takes far less CPU per request than the server does,
and on one machine the client takes its CPU from the server. Its CPU is printed next to the results.

Targets, built for the run:

- small: a ``tests/target/pmtarget.c`` process with 46 areas of 5 written pages, pages 1 and 3 of
  each made read-only: about 300 mappings (the count is printed, with the regions and pages of its
  default scan);
- large: a process with 262,144 regions (``tests.support.children.many_regions``: 21 MB of NDJSON
  or 6 MB of raw records an answer).

The baseline, measured in the same run: ``ioctl(PAGEMAP_SCAN)`` straight from this process
(``app.pagemap._pagemap.scan`` on ``/proc/PID/pagemap`` opened once) over the range and with the
return mask a default request uses, in a loop for about a second: scans/s of the small target,
and the time of a whole answer of the large one (calls of 8192 records resuming at ``walk_end``).

Scenarios, each for ``--seconds`` (whole seconds: wrk's resolution) after a few warm-up requests:

- ``healthz x1``: ``GET /healthz`` on one connection, the floor: what one request costs the
  server (uvicorn, FastAPI, pmscan's middleware) when it touches no process. Its CPU per answer
  plus the raw ioctl's time per scan is the least any scan answer can cost here, printed as such;
- ``small xN``: ``POST /scan`` of the small target (the whole default range, NDJSON) on N
  connections (``wrk -t1 -c1``, ``-t2 -c32``);
- ``large ndjson|binary xN``: N parallel streams of the large target, N = 1 and the server's
  worker count.

For each: answers/s (complete 200s), their ratio to the raw ioctl (scans/s, or whole answers/s),
p50/p99 latency, MB/s, the server's CPU time per answer (utime + stime of ``/proc/PID/stat``), and
every answer that was not a complete 200 (503 ``BUSY`` counted apart).

Run: ``.venv-dev/bin/python bench/load_bench.py [--seconds S] [--json FILE]`` (``make stress`` runs it).
The server runs with its defaults (workers: twice the CPUs), authentication and audit log off.
Exits non-zero when an answer was not a complete 200 (a 503 included: the pool's queue must absorb
32 connections), or wrk met a transport error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.pagemap import _pagemap  # noqa: E402
from app.pagemap.probe import probe  # noqa: E402
from app.pagemap.scanner import DEFAULT_CHUNK_RECORDS, FIRST_CHUNK_RECORDS  # noqa: E402
from tests.support.children import many_regions  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402
from tests.support.target import Target, build_target  # noqa: E402

NDJSON, BINARY, JSON = "application/x-ndjson", "application/octet-stream", "application/json"
SCRIPT = REPO / "bench" / "load" / "scan.lua"
#: The line of wrk's output that done() in scan.lua prints, JSON after this prefix.
RESULT_PREFIX = "pmscan-load "
#: The small target: this many areas of AREA_PAGES written pages, two of them read-only.
SMALL_AREAS, AREA_PAGES, READ_ONLY_PAGES = 46, 5, (1, 3)
#: Outcomes that are not failures: complete 200s only. A full pool makes a request wait for a
#: worker (PMSCAN_QUEUE_LIMIT, PMSCAN_QUEUE_SECONDS), so not even 32 connections get a 503.
ACCEPTED = ("ok",)
WRK_MISSING = "wrk is not installed: apt-get install wrk (make test and make stress install it, as root)"


class WrkMissing(RuntimeError):
    pass


def wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing(WRK_MISSING)
    return path


# ---- targets ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def small_target(binary: Path | None = None) -> Iterator[Target]:
    """The small target (about 300 mappings, a little written memory); ``binary`` is a built
    ``pmtarget``, compiled into a temporary directory when not given."""
    with contextlib.ExitStack() as stack:
        if binary is None:
            binary = build_target(Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pmload-"))))
        target = stack.enter_context(Target(binary))
        for i in range(SMALL_AREAS):
            area = target.anon(f"a{i}", AREA_PAGES)
            target.write(area, 0, AREA_PAGES)
            for page in READ_ONLY_PAGES:
                target.mprotect(area, page, 1, "r")
        yield target


def mappings(pid: int) -> int:
    return len(Path(f"/proc/{pid}/maps").read_text().splitlines())


# ---- the raw ioctl -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """The raw ioctl on one target: whole answers a second, and what one holds."""

    start: int
    end: int
    answers_per_second: float
    regions: int
    calls: int


def default_range(server: ServerProcess, pid: int) -> tuple[int, int]:
    """``[start, end)`` of a default request, from the server's own answer (JSON, one region)."""
    with server.client() as http:
        answer = http.post("/scan", json={"pid": pid, "vec_len": 1}, headers={"Accept": JSON})
        answer.raise_for_status()
        body = answer.json()
    return body["start"], body["end"]


def raw_answers_per_second(pid: int, start: int, end: int, *, vec_len: int, seconds: float = 1.0) -> Raw:
    """Whole answers of ``[start, end)`` a second: calls of ``vec_len`` records resuming at
    ``walk_end``, for about ``seconds``, with the return mask of a default request (every category
    the kernel reports)."""
    return_mask = int(probe().categories)
    fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
    try:
        answers = regions = calls = 0
        started = time.perf_counter()
        deadline = started + seconds
        while True:
            position, regions, calls = start, 0, 0
            while position < end:
                records, position, _ = _pagemap.scan(
                    fd, position, end, return_mask=return_mask, category_anyof_mask=0, vec_len=vec_len
                )
                regions += len(records) // _pagemap.RECORD_SIZE
                calls += 1
            answers += 1
            now = time.perf_counter()
            if now >= deadline:
                return Raw(start, end, answers / (now - started), regions, calls)
    finally:
        os.close(fd)


# ---- wrk -------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (fields 14 and 15 of ``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run_wrk(
    url: str, pid: int | str, accept: str, connections: int, seconds: float, *, token: str | None = None
) -> dict[str, Any]:
    """One wrk run (with ``token``: as its bearer); what scan.lua's done() printed."""
    command = [
        wrk(),
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{max(1, math.ceil(seconds))}s",
        "--timeout",
        "30s",
        *(["-H", f"Authorization: Bearer {token}"] if token else []),
        "-s",
        str(SCRIPT),
        url,
        "--",
        str(pid),
        accept,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line.removeprefix(RESULT_PREFIX))
            return result
    raise RuntimeError(f"wrk gave no result ({done.returncode}):\n{done.stdout}\n{done.stderr}")


#: The ``pid`` of the floor scenario: ``GET /healthz`` (scan.lua).
HEALTH = "-"


def warm_up(server: ServerProcess, pid: int | str, accept: str, count: int = 3) -> None:
    with server.client() as http:
        for _ in range(count):
            if pid == HEALTH:
                http.get("/healthz").raise_for_status()
            else:
                http.post("/scan", json={"pid": pid}, headers={"Accept": accept}).raise_for_status()


def scenario(
    name: str,
    server: ServerProcess,
    *,
    pid: int | str,
    accept: str,
    connections: int,
    seconds: float,
    raw: Raw | None,
) -> dict[str, Any]:
    """One wrk run of ``POST /scan`` of ``pid`` (or ``GET /healthz``: :data:`HEALTH`, without a
    ``raw`` to compare with), after a few warm-up requests; its result row."""
    warm_up(server, pid, accept)
    server_cpu, client_cpu = cpu_seconds(server.pid), children_cpu_seconds()
    wrk_result = run_wrk(server.url, pid, accept, connections, seconds)
    server_cpu = cpu_seconds(server.pid) - server_cpu
    client_cpu = children_cpu_seconds() - client_cpu
    duration = wrk_result["duration_us"] / 1e6
    errors = wrk_result["errors"]
    outcomes = {
        "ok": wrk_result["ok"],
        "503 busy": wrk_result["busy"],
        "bad answer": wrk_result["bad"],
        **{f"{kind} error": errors[kind] for kind in ("connect", "read", "write", "timeout")},
    }
    ok_per_second = wrk_result["ok"] / duration
    answers = wrk_result["requests"]
    latency = wrk_result["latency_us"]
    return {
        "scenario": name,
        "connections": connections,
        "seconds": round(duration, 2),
        "answers": answers,
        "ok_per_second": round(ok_per_second, 1),
        "raw_per_second": None if raw is None else round(raw.answers_per_second, 1),
        "ratio_to_raw": None if raw is None else round(ok_per_second / raw.answers_per_second, 3),
        "p50_ms": round(latency["p50"] / 1000, 3),
        "p99_ms": round(latency["p99"] / 1000, 3),
        "mb_per_second": round(wrk_result["bytes"] / duration / 1e6, 1),
        "server_cpu_us_per_answer": round(server_cpu / answers * 1e6) if answers else None,
        "wrk_cpu_share": round(client_cpu / duration, 2),
        "outcomes": {k: v for k, v in outcomes.items() if v or k == "ok"},
        "samples": wrk_result["samples"],
    }


def failures(results: list[dict[str, Any]]) -> int:
    """Answers that were neither a complete 200 nor a 503, and transport errors."""
    return sum(v for r in results for k, v in r["outcomes"].items() if k not in ACCEPTED)


# ---- the whole run ---------------------------------------------------------------------------------


@dataclass
class Load:
    """What :func:`measure` found: the header's numbers and one result a scenario."""

    workers: int
    small_mappings: int
    small_regions: int
    small_pages: int
    raw_small: Raw
    raw_large: Raw
    results: list[dict[str, Any]]
    when: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M"))

    def header(self) -> str:
        small, large = self.raw_small, self.raw_large
        return (
            f"pmscan load, {self.when}, {os.cpu_count()} CPUs, {self.workers} scan "
            f"workers, client wrk ({SCRIPT.relative_to(REPO)})\n"
            f"small target: {self.small_mappings} mappings, {self.small_regions} regions, "
            f"{self.small_pages} pages; raw ioctl {small.answers_per_second:,.0f} scans/s "
            f"({1e6 / small.answers_per_second:.1f} us a scan)\n"
            f"large target: {large.regions:,} regions; raw ioctl {1e3 / large.answers_per_second:.1f} ms "
            f"a whole answer ({large.calls} calls of {DEFAULT_CHUNK_RECORDS}), "
            f"{large.answers_per_second:.1f} answers/s"
        )

    def summary(self) -> dict[str, Any]:
        """What ``--json`` writes: the header (text and numbers) and the results."""
        return {
            "header": self.header(),
            "workers": self.workers,
            "small": {
                "mappings": self.small_mappings,
                "regions": self.small_regions,
                "pages": self.small_pages,
            },
            "raw_small_scans_per_second": round(self.raw_small.answers_per_second, 1),
            "raw_large_ms_per_answer": round(1e3 / self.raw_large.answers_per_second, 2),
            "results": self.results,
        }


def measure(
    server: ServerProcess,
    small: Target,
    large_pid: int,
    *,
    seconds: float,
    baseline_seconds: float = 1.0,
    progress: Callable[[str], None] | None = None,
    only: str | None = None,
) -> Load:
    """Every scenario against ``server`` (those whose name starts with ``only``), with the
    baselines first."""
    with server.client() as http:
        workers: int = http.get("/capabilities").json()["limits"]["workers"]
        answer = http.post("/scan", json={"pid": small.pid}, headers={"Accept": JSON})
        answer.raise_for_status()
        small_scan = answer.json()
    raw_small = raw_answers_per_second(
        small.pid,
        small_scan["start"],
        small_scan["end"],
        vec_len=FIRST_CHUNK_RECORDS,  # the server's first call asks for as many
        seconds=baseline_seconds,
    )
    raw_large = raw_answers_per_second(
        large_pid, *default_range(server, large_pid), vec_len=DEFAULT_CHUNK_RECORDS, seconds=baseline_seconds
    )
    load = Load(
        workers,
        mappings(small.pid),
        len(small_scan["regions"]),
        small_scan["pages"],
        raw_small,
        raw_large,
        [],
    )
    if progress:
        progress(load.header())
    plan: list[tuple[str, int | str, str, int, Raw | None]] = [("healthz x1", HEALTH, JSON, 1, None)]
    plan += [(f"small x{n}", small.pid, NDJSON, n, raw_small) for n in (1, 32)]
    for accept, label in ((NDJSON, "ndjson"), (BINARY, "binary")):
        plan += [(f"large {label} x{n}", large_pid, accept, n, raw_large) for n in (1, workers)]
    for name, pid, accept, connections, raw in plan:
        if only is not None and not name.startswith(only):
            continue
        load.results.append(
            scenario(name, server, pid=pid, accept=accept, connections=connections, seconds=seconds, raw=raw)
        )
    return load


def print_table(results: list[dict[str, Any]]) -> None:
    print(
        f"{'scenario':<19}{'conns':>6}{'answers/s':>11}{'x raw':>7}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'MB/s':>8}{'srv us/ans':>11}{'wrk CPU':>8}  other answers"
    )
    for r in results:
        other = {k: v for k, v in r["outcomes"].items() if k != "ok"}
        cpu = r["server_cpu_us_per_answer"]
        ratio = "-" if r["ratio_to_raw"] is None else f"{r['ratio_to_raw']:.2f}"
        print(
            f"{r['scenario']:<19}{r['connections']:>6}{r['ok_per_second']:>11,.1f}{ratio:>7}"
            f"{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['mb_per_second']:>8.1f}"
            f"{'-' if cpu is None else cpu:>11}{r['wrk_cpu_share']:>8.2f}  {other or '-'}"
        )
        for sample in r.get("samples", [])[:1]:
            print(f"    first bad answer: {sample[:200]}")
    print(
        "(x raw: small, scans/s over the raw ioctl's scans/s; large, whole answers/s over the raw\n"
        " ioctl's, one thread; srv us/ans: server CPU per answer; wrk CPU: share of one CPU)"
    )


def print_floor(load: Load) -> None:
    """What a small scan costs beyond a request that touches no process, and the least a scan
    answer can cost on this machine: the floor plus the raw ioctl."""
    rows = {r["scenario"]: r["server_cpu_us_per_answer"] for r in load.results}
    floor, small = rows.get("healthz x1"), rows.get("small x1")
    if floor is None or small is None:
        return
    raw_us = 1e6 / load.raw_small.answers_per_second
    print(
        f"small x1: {small} us of server CPU an answer = {floor} us that GET /healthz costs (the\n"
        f" floor: uvicorn, FastAPI, middleware) + {small - floor} us of its own, of which the raw ioctl\n"
        f" takes {raw_us:.0f} us; no scan answer can cost less than {floor + raw_us:.0f} us here\n"
        f" (issue 22's ratio of a small scan to /healthz + the ioctl: bench/floor_bench.py)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per scenario, whole seconds (default 5)")
    parser.add_argument("--json", type=Path, help="also write the header and the results here")
    parser.add_argument("--only", metavar="PREFIX", help='only the scenarios named so (e.g. "small x1")')
    args = parser.parse_args()
    try:
        wrk()
    except WrkMissing as missing:
        print(f"load_bench: {missing}", file=sys.stderr)
        return 2
    with ServerProcess(auth="off") as server, small_target() as small, many_regions() as large:
        load = measure(
            server,
            small,
            large.pid,
            seconds=args.seconds,
            progress=lambda line: print(line, flush=True),
            only=args.only,
        )
    print_table(load.results)
    print_floor(load)
    if args.json:
        args.json.write_text(json.dumps(load.summary(), indent=2) + "\n")
    return 1 if failures(load.results) else 0


if __name__ == "__main__":
    sys.exit(main())
