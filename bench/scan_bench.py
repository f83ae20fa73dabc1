"""How close the HTTP service comes to the raw kernel call, measured in one run.

For each layout, the raw C scan of the target (``_pagemap.scan`` with a buffer large
enough for the whole answer: the physical limit) is timed next to the same scan
through a real pmscan server in each response format, in two ways:

- **keep-alive**, against a server with logging and authentication off: Python's
  ``http.client`` (a lean client, but Python reading the body costs time of its own) and curl
  (a C client: its rows measure the server), each over one keep-alive connection;
- **as a user gets them**: a fresh ``curl`` process per request (a new connection each time)
  against a server started with ``make serve``'s defaults (every ``PMSCAN_*`` setting unset:
  tokens on, so curl sends the admin token of the server's first start, as the README does;
  the audit log on stderr; the server log at ``info``), on a free loopback port rather than
  6716, its stderr to a file rather than a terminal.

curl's times are its own ``time_total`` per transfer: from the start of the connection (a fresh
one's connect included) to the last byte, not its process start, which is the client's cost
and is printed apart (the wall time of the process less its ``time_total``). Each client also
times ``GET /healthz`` the same way, a request that touches no process: the floor of any answer,
which bounds the speed an answer can reach to raw / (raw + floor), the ceiling. Speed is printed
as a fraction of the raw scan: raw time / service time (1.0 = as fast as the kernel alone),
against the targets of issue 22 (binary 0.85, NDJSON 0.5, JSON 0.3), with the ceiling and, for
curl, the server's CPU time per answer (all its threads, the kernel call included).

Layouts: 1 GiB with every other page present (131072 regions); a 16 GiB reserved
range with 64 MiB touched; a small real process (python3 with numpy imported,
about 300 mappings) over one keep-alive connection. Also the server's RSS growth
while it streams a million regions.

Run: ``make bench`` (or ``.venv-dev/bin/python bench/scan_bench.py [--quick]``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.pagemap import _pagemap  # noqa: E402
from app.pagemap.categories import Category  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench._timing import median_time  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402
from tests.support.target import Target, build_target  # noqa: E402

FORMATS = {"binary": "application/octet-stream", "ndjson": "application/x-ndjson", "json": "application/json"}
TARGETS = {"binary": 0.85, "ndjson": 0.5, "json": 0.3, "small": 0.5}
ALL = int(sum(Category))
T = TypeVar("T")


class Http:
    """A lean keep-alive HTTP/1.1 client (http.client): measures the server, not a client library."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path: str) -> int:
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {response.read()[:300]!r}")
        return len(response.read())

    def post(self, path: str, body: dict[str, object], accept: str) -> int:
        self.connection.request(
            "POST", path, json.dumps(body), {"Content-Type": "application/json", "Accept": accept}
        )
        response = self.connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {response.read()[:300]!r}")
        size = 0
        while chunk := response.read(1 << 20):
            size += len(chunk)
        return size


class Timing(NamedTuple):
    """curl's median ``time_total`` (seconds), the server's CPU per request (seconds), and the
    median wall time of curl's process start (seconds; fresh processes only)."""

    seconds: float
    server_cpu: float
    process_start: float | None = None


class Curl:
    """Requests by curl, timed by its own ``time_total``: ``keep_alive`` runs them in one
    process over one connection (each but the first, which connects, counted); ``fresh`` one
    process, and so one connection, per request (after one uncounted). ``token``: sent as a
    bearer token."""

    def __init__(self, server: ServerProcess, token: str | None = None) -> None:
        self.url = server.url
        self.server = server
        self.token = token
        self.available = shutil.which("curl") is not None

    def _transfer(self, path: str, body: dict[str, object] | None, accept: str) -> list[str]:
        """One transfer's arguments: ``POST path`` with ``body``, or ``GET path`` without one."""
        return [
            *("-sS", "-o", "/dev/null", "-w", "%{time_total} %{http_code}\\n"),
            *("-H", "Content-Type: application/json", "-H", f"Accept: {accept}"),
            *(() if self.token is None else ("-H", f"Authorization: Bearer {self.token}")),
            *(() if body is None else ("--data-binary", json.dumps(body))),
            self.url + path,
        ]

    def keep_alive(self, path: str, body: dict[str, object] | None, accept: str, runs: int) -> Timing:
        one = self._transfer(path, body, accept)
        args = ["curl"]
        for n in range(runs + 1):
            args += [*one, "--next"] if n < runs else one
        cpu = server_cpu(self.server.pid)
        output = subprocess.run(args, capture_output=True, text=True, check=True, timeout=600).stdout
        cpu = server_cpu(self.server.pid) - cpu
        times = [_total(line) for line in output.splitlines()]
        return Timing(statistics.median(times[1:]), cpu / (runs + 1))

    def fresh(self, path: str, body: dict[str, object] | None, accept: str, runs: int) -> Timing:
        args = ["curl", *self._transfer(path, body, accept)]
        subprocess.run(args, capture_output=True, check=True, timeout=600)
        times, starts = [], []
        cpu = server_cpu(self.server.pid)
        for _ in range(runs):
            began = time.perf_counter()
            output = subprocess.run(args, capture_output=True, text=True, check=True, timeout=600).stdout
            wall = time.perf_counter() - began
            times.append(_total(output))
            starts.append(wall - times[-1])
        cpu = server_cpu(self.server.pid) - cpu
        return Timing(statistics.median(times), cpu / runs, statistics.median(starts))


def _total(line: str) -> float:
    seconds, status = line.split()
    if status != "200":
        raise RuntimeError(f"curl got HTTP {status}")
    return float(seconds)


def server_cpu(pid: int) -> float:
    """The CPU time (seconds) of every thread of process ``pid`` so far (schedstat: ns)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread that just exited
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def serve_defaults() -> dict[str, Any]:
    """What ``make serve`` runs with (no ``PMSCAN_*`` set), as :class:`ServerProcess` settings:
    it turns the audit log and the info log off unless told, and authentication on."""
    fields = Settings.model_fields
    return {name: fields[name].default for name in ("auth", "audit_log", "log_level")}


def raw_scan(pid: int, start: int, end: int, vec_len: int, **masks: int) -> Callable[[], int]:
    fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)

    def scan() -> int:
        records, walk_end, _ = _pagemap.scan(fd, start, end, return_mask=ALL, vec_len=vec_len, **masks)
        assert walk_end == end or len(records) < vec_len * 24
        return len(records) // 24

    return scan


def vm_rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def report(
    name: str, raw: float, service: dict[tuple[str, str], Timing | float], floors: dict[str, Timing | float]
) -> None:
    """The rows of one layout. ``service``: the time of each (client, format); ``floors`` holds,
    per client, the time of ``GET /healthz`` (a request that touches no process) measured the
    same way: no answer, whatever pmscan does, takes less than that plus the raw scan, which
    bounds the speed any answer can reach (the ceiling)."""
    print(f"\n{name}: raw C scan {raw * 1e3:.2f} ms")
    for client, floor in floors.items():
        floor_s = floor.seconds if isinstance(floor, Timing) else floor
        start = floor.process_start if isinstance(floor, Timing) else None
        print(
            f"  {client}: GET /healthz {floor_s * 1e3:.2f} ms, ceiling raw / (raw + that) "
            f"= {raw / (raw + floor_s):.2f}"
            + ("" if start is None else f"; not counted: curl's process start, {start * 1e3:.1f} ms")
        )
    clients = list(floors)
    for (client, fmt), timing in sorted(service.items(), key=lambda item: clients.index(item[0][0])):
        seconds = timing.seconds if isinstance(timing, Timing) else timing
        floor = floors[client]
        ceiling = raw / (raw + (floor.seconds if isinstance(floor, Timing) else floor))
        target = TARGETS.get(fmt, TARGETS["small"])
        ratio = raw / seconds
        verdict = "ok" if ratio >= target else "BELOW TARGET"
        cpu = f"   server CPU {timing.server_cpu * 1e3:6.2f} ms" if isinstance(timing, Timing) else ""
        print(
            f"  {client:21s} {fmt:12s} {seconds * 1e3:8.2f} ms   speed {ratio:5.2f} of raw "
            f"(target >= {target}, ceiling {ceiling:.2f}) {verdict:12s}{cpu}"
        )


class RawClock:
    """The raw scan, timed a few times before each measurement of the service and once more at
    the end: its median is taken over the same minutes as the times it is compared with (on a
    shared machine the kernel call's time moves with the load)."""

    def __init__(self, raw: Callable[[], int]) -> None:
        self.raw = raw
        self.samples: list[float] = []

    def then(self, measure: Callable[[], T]) -> T:
        """``measure()``, after three timings of the raw scan."""
        for _ in range(3):
            began = time.perf_counter()
            self.raw()
            self.samples.append(time.perf_counter() - began)
        return measure()

    def median(self) -> float:
        self.then(lambda: None)
        return statistics.median(self.samples)


def bench_range(
    servers: tuple[ServerProcess, ServerProcess], target: Target, name: str, span: tuple[int, int], runs: int
) -> None:
    """``servers``: one with logging and authentication off, one with ``make serve``'s defaults."""
    quiet, defaults = servers
    start, end = span
    body = {"pid": target.pid, "start": start, "end": end, "category_mask": ["PRESENT"]}
    raw = raw_scan(target.pid, start, end, 1 << 21, category_mask=Category.PRESENT)
    regions = raw()
    clock = RawClock(raw)
    client = Http(quiet.port)
    curl = Curl(quiet)
    user = Curl(defaults, token=defaults.admin_token if defaults.token_file else None)
    way = "fresh curl, defaults"
    floors: dict[str, Timing | float] = {"http.client": median_time(lambda: client.get("/healthz"), runs * 5)}
    if curl.available:
        floors["curl"] = curl.keep_alive("/healthz", None, FORMATS["json"], runs * 5)
        floors[way] = user.fresh("/healthz", None, FORMATS["json"], runs * 3)
    else:
        print("\n(curl is not installed: no curl rows)")
    service: dict[tuple[str, str], Timing | float] = {}
    # Format by format, the ways in turn: each way meets the same load, and neither server idles
    # through the other's measurements.
    for fmt, accept in FORMATS.items():
        post = functools.partial(client.post, "/scan", body, accept)
        service["http.client", fmt] = clock.then(lambda p=post: median_time(p, runs))
        if curl.available:
            service["curl", fmt] = clock.then(lambda a=accept: curl.keep_alive("/scan", body, a, runs))
            service[way, fmt] = clock.then(lambda a=accept: user.fresh("/scan", body, a, runs))
    report(f"{name} ({regions} regions)", clock.median(), service, floors)


def small_process(server: ServerProcess, runs: int) -> None:
    python = shutil.which("python3") or sys.executable
    code = "import numpy, sys; sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()"
    child = subprocess.Popen([python, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        if child.stdout.readline() != b"ready\n":
            print("\nsmall process: python3 with numpy is not available here; skipped")
            return
        maps = Path(f"/proc/{child.pid}/maps").read_text().splitlines()
        ranges = [
            tuple(int(x, 16) for x in line.split()[0].split("-")) for line in maps if "vsyscall" not in line
        ]
        start, end = min(r[0] for r in ranges), max(r[1] for r in ranges)
        raw = raw_scan(child.pid, start, end, 1 << 16)
        regions = raw()
        client = Http(server.port)
        body = {"pid": child.pid}
        floor = median_time(lambda: client.get("/healthz"), runs * 20)
        per_request = median_time(lambda: client.post("/scan", body, FORMATS["ndjson"]), runs * 20)
        per_binary = median_time(lambda: client.post("/scan", body, FORMATS["binary"]), runs * 20)
        report(
            f"small process ({len(maps)} mappings, {regions} regions, one keep-alive connection)",
            median_time(raw, runs * 20),
            {("http.client", "small/ndjson"): per_request, ("http.client", "small/binary"): per_binary},
            {"http.client": floor},
        )
        print(f"  = {1 / per_request:.0f} NDJSON scans/s on one connection")
    finally:
        child.kill()
        child.wait()


def memory_while_streaming(server: ServerProcess, target: Target) -> None:
    pages = 1 << 21  # 8 GiB of address space; reading every other page maps the zero page: no RSS
    area = target.anon("million", pages)
    target.read(area, 0, pages // 2, 2)
    assert server.process is not None
    before = vm_rss_kib(server.process.pid)
    client = Http(server.port)
    size = client.post("/scan", {"pid": target.pid, "start": area.start, "end": area.end}, FORMATS["ndjson"])
    peak = vm_rss_kib(server.process.pid, "VmHWM")
    print(
        f"\nstreaming {pages} regions ({size / 1e6:.0f} MB of NDJSON): "
        f"server RSS {before / 1024:.0f} MiB before, "
        f"peak {peak / 1024:.0f} MiB: growth {(peak - before) / 1024:.1f} MiB (target < 50)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs, no million-region stream")
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    runs = 3 if options.quick else options.runs
    print(
        f"pmscan scan benchmark, {time.strftime('%Y-%m-%d')}, "
        f"kernel {os.uname().release}, {os.cpu_count()} CPUs"
    )
    with (
        tempfile.TemporaryDirectory() as build,
        Target(build_target(Path(build))) as target,
        ServerProcess(auth="off", startup_timeout=120) as server,
        ServerProcess(startup_timeout=120, **serve_defaults()) as defaults,
    ):
        page = target.page_size
        area = target.anon("sparse", (1 << 30) // page)
        target.write(area, 0, (1 << 30) // page // 2, 2)
        bench_range((server, defaults), target, "1 GiB, every other page", (area.start, area.end), runs)
        reserved = target.reserve("reserved", 16 << 30)
        target.write(reserved, 0, (64 << 20) // page)
        bench_range(
            (server, defaults),
            target,
            "16 GiB reserved, 64 MiB touched",
            (reserved.start, reserved.end),
            runs,
        )
        small_process(server, runs)
        if not options.quick:
            target.unmap(area)
            memory_while_streaming(server, target)


if __name__ == "__main__":
    main()
