"""The floor under every pmscan answer, and what a small scan costs above it, measured in one run.

Four servers answer ``GET /healthz`` with a small JSON object, each in its own process under the
same uvicorn settings as ``pmscan-server`` (uvloop, httptools, no access log), one after the
other, in interleaved rounds:

- ``raw ASGI``: a bare ASGI callable, uvicorn alone;
- ``Starlette``: one route;
- ``FastAPI``: one ``async def`` route, telemetry off as pmscan has it;
- ``pmscan``: ``pmscan-server`` itself, its ``/healthz``.

In the same rounds, the same ``pmscan-server`` answers ``POST /scan`` of a small Python process
(the interpreter running this bench with a few modules imported, :data:`PYTHON_IMPORTS`: about 270
mappings) as NDJSON, no filter, the whole default range (``bench/load/scan.lua``, which checks
every answer is complete); and the raw ``ioctl(PAGEMAP_SCAN)`` of that scan is timed in this
process (``_pagemap.scan`` on ``/proc/PID/pagemap`` opened once: the same range, return mask and
first-call size as the server's scan).

``pmscan-server`` runs as ``make serve`` runs it, with its defaults: authentication on (wrk sends
the admin token the first start generates), the audit log on (``-``: a JSON line a scan, to
stderr, which the bench keeps in a file), no access log, workers twice the CPUs.

wrk (one connection, keep-alive, ``--seconds`` a round) drives each; the server's CPU per answer
comes from its ``/proc/PID/stat`` (utime + stime), as ``bench/load_bench.py`` measures it. The
raw ioctl is timed as this thread's CPU time too. The medians over the rounds are printed, and
issue 22's ratio: the small scan's CPU over pmscan's own ``/healthz`` plus the raw ioctl (target:
at most :data:`SMALL_SCAN_RATIO`).

Where the small scan's time goes, measured in the same rounds: the scan thread's part timed here
(open the target safely, scan, encode, close), an empty job through pmscan's scan pool and back,
and the server's thread sleeps per answer (each a wake-up by another thread or the network); the
rest is what the route does beyond ``/healthz`` (routing, dependencies, body, audit, the answer).

Run: ``.venv-dev/bin/python bench/floor_bench.py [--seconds S] [--rounds N]`` (wrk: ``make tools``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn
import uvloop
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.pagemap import _pagemap  # noqa: E402
from app.pagemap.policy import process_rule  # noqa: E402
from app.pagemap.probe import probe  # noqa: E402
from app.pagemap.scanner import FIRST_CHUNK_RECORDS  # noqa: E402
from app.pagemap.session import open_scan  # noqa: E402
from app.service.encoders import ENCODERS  # noqa: E402
from app.service.pool import ScanPool  # noqa: E402
from bench.load_bench import (  # noqa: E402
    NDJSON,
    cpu_seconds,
    default_range,
    mappings,
    run_wrk,
    warm_up,
    wrk,
)
from tests.support.server import ServerProcess, free_port  # noqa: E402

KINDS = ("raw ASGI", "Starlette", "FastAPI")
#: The row of pmscan's small scan.
SCAN = "pmscan small scan"
BODY = b'{"status":"ok"}'
#: What the small Python target imports: about 270 mappings with the development venv.
PYTHON_IMPORTS = "asyncio, ssl, sqlite3, fastapi, uvicorn"
#: Issue 22's target: a small scan costs the server at most this many times its own GET /healthz
#: plus the raw ioctl of the same scan.
SMALL_SCAN_RATIO = 1.5


@contextlib.contextmanager
def python_target() -> Iterator[int]:
    """A Python process with :data:`PYTHON_IMPORTS` imported, idle; its pid."""
    code = f"import sys, {PYTHON_IMPORTS}; sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        if child.stdout.readline() != b"ready\n":
            raise RuntimeError(f"the small Python target did not start (it imports {PYTHON_IMPORTS})")
        yield child.pid
    finally:
        child.kill()
        child.wait()


def app(kind: str) -> object:
    """The application of one of :data:`KINDS`."""
    if kind == "raw ASGI":

        async def raw(scope: dict[str, object], receive: object, send: object) -> None:
            if scope["type"] != "http":
                return
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
            await send({"type": "http.response.body", "body": BODY})  # type: ignore[operator]

        return raw
    if kind == "Starlette":

        async def starlette_healthz(request: Request) -> JSONResponse:
            return JSONResponse({"status": "ok"})

        return Starlette(routes=[Route("/healthz", starlette_healthz)])
    fastapi = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})

    @fastapi.get("/healthz")
    async def fastapi_healthz() -> dict[str, str]:
        return {"status": "ok"}

    return fastapi


def serve(kind: str, port: int) -> None:
    """Run one of :data:`KINDS` on ``port`` (the child process's part)."""
    uvicorn.run(
        app(kind),  # type: ignore[arg-type]
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        lifespan="off" if kind == "raw ASGI" else "auto",
    )


class Child:
    """One of :data:`KINDS` served by a child process."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = free_port()
        self.process = subprocess.Popen([sys.executable, __file__, "--serve", kind, str(self.port)])
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(self.url + "/healthz", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.close()
                    raise RuntimeError(f"{kind}: the server did not start") from None
                time.sleep(0.1)

    @property
    def pid(self) -> int:
        return self.process.pid

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def raw_cpu_per_scan(pid: int, start: int, end: int, seconds: float = 1.0) -> float:
    """The raw ioctl of a small scan, in a loop for about ``seconds``: this thread's CPU
    microseconds a scan (``[start, end)`` in one call of :data:`FIRST_CHUNK_RECORDS` records, as
    the server's first call, with the return mask of a default request). CPU time, not elapsed
    time, as the server's is measured: on a busy machine the elapsed time holds the waits for a CPU."""
    return_mask = int(probe().categories)
    fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
    try:
        scans, used, deadline = 0, time.thread_time(), time.monotonic() + seconds
        while True:
            _, walk_end, _ = _pagemap.scan(
                fd, start, end, return_mask=return_mask, category_anyof_mask=0, vec_len=FIRST_CHUNK_RECORDS
            )
            if walk_end != end:
                raise RuntimeError("the small target does not fit in one call: it is not small")
            scans += 1
            if time.monotonic() >= deadline:
                return (time.thread_time() - used) / scans * 1e6
    finally:
        os.close(fd)


def domain_cpu_per_scan(pid: int, seconds: float = 1.0) -> float:
    """What the server's scan thread does for a small scan, here in a loop for about ``seconds``:
    open the target safely (pidfd, ``/proc/PID``, the deny rule, the range), scan it, encode the
    NDJSON answer, close it. This thread's CPU microseconds a scan."""
    encoder = ENCODERS[NDJSON]
    assert encoder.regions is not None  # NDJSON is encoded
    rule = process_rule(deny=[])
    scans, used, deadline = 0, time.thread_time(), time.monotonic() + seconds
    while True:
        scan = open_scan(pid, authorize=rule)
        try:
            encoder.regions(scan.next_chunk())
            if not scan.done:
                raise RuntimeError("the small target does not fit in one chunk: it is not small")
            encoder.trailer(scan)
        finally:
            scan.close()
        scans += 1
        if time.monotonic() >= deadline:
            return (time.thread_time() - used) / scans * 1e6


def hop_cpu(seconds: float = 1.0) -> float:
    """An empty job through pmscan's scan pool (``ScanPool.run_leased``) from a uvloop event loop
    to a scan thread and back, one at a time for about ``seconds``: this process's CPU
    microseconds a job (both threads)."""

    async def hops() -> float:
        pool = ScanPool(max(2, 2 * (os.cpu_count() or 1)))
        try:
            jobs, used, deadline = 0, time.process_time(), time.monotonic() + seconds
            while True:
                await pool.run_leased(lambda: None)
                jobs += 1
                if time.monotonic() >= deadline:
                    return (time.process_time() - used) / jobs * 1e6
        finally:
            pool.shutdown()

    return uvloop.run(hops())


def sleeps(pid: int) -> int:
    """How often the threads of process ``pid`` have gone to sleep so far (the sum of their
    ``voluntary_ctxt_switches``): each is a wait that another thread or the network ended."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        with contextlib.suppress(FileNotFoundError):
            text = status.read_text()
            total += int(text.split("voluntary_ctxt_switches:", 1)[1].split()[0])
    return total


def scan_cpu_per_answer(server: ServerProcess, target: int, seconds: int) -> tuple[float, float]:
    """wrk on one connection for ``seconds``, ``POST /scan`` of ``target`` as NDJSON: the
    server's CPU microseconds per answer (every answer a complete 200), and its threads' sleeps
    per answer (:func:`sleeps`)."""
    before, slept = cpu_seconds(server.pid), sleeps(server.pid)
    done = run_wrk(server.url, target, NDJSON, 1, seconds, token=server.token)
    used, slept = cpu_seconds(server.pid) - before, sleeps(server.pid) - slept
    if done["ok"] != done["requests"] or done["requests"] == 0 or any(done["errors"].values()):
        raise RuntimeError(f"wrk saw failures: {done}")
    return used / done["requests"] * 1e6, slept / done["requests"]


def cpu_per_answer(url: str, pid: int, seconds: int) -> float:
    """wrk on one connection for ``seconds``: the server's CPU microseconds per answer."""
    before = cpu_seconds(pid)
    done = subprocess.run(
        [wrk(), "-t1", "-c1", f"-d{seconds}s", url + "/healthz"], capture_output=True, text=True, check=True
    )
    used = cpu_seconds(pid) - before
    requests = int(re.search(r"(\d+) requests in", done.stdout).group(1))  # type: ignore[union-attr]
    if "Non-2xx" in done.stdout or requests == 0:
        raise RuntimeError(f"wrk saw failures:\n{done.stdout}")
    return used / requests * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=3, help="per server and round (default 3)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return 0
    print(
        f"pmscan floor, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}: server CPU per answer, wrk on one connection, "
        f"{args.rounds} rounds of {args.seconds} s"
    )
    children = [Child(kind) for kind in KINDS]
    try:
        # pmscan-server as `make serve` runs it: authentication and the audit log on.
        with ServerProcess(audit_log="-") as pmscan, python_target() as small:
            pmscan.token = pmscan.admin_token
            servers = {c.kind: (c.url, c.pid) for c in children}
            servers["pmscan"] = (pmscan.url, pmscan.pid)
            start, end = default_range(pmscan, small)
            size = mappings(small)
            warm_up(pmscan, small, NDJSON)
            samples: dict[str, list[float]] = {name: [] for name in [*servers, SCAN]}
            raw: list[float] = []
            naps: list[float] = []
            domain: list[float] = []
            hops: list[float] = []
            for _ in range(args.rounds):
                for name, (url, pid) in servers.items():
                    samples[name].append(cpu_per_answer(url, pid, args.seconds))
                used, slept = scan_cpu_per_answer(pmscan, small, args.seconds)
                samples[SCAN].append(used)
                naps.append(slept)
                raw.append(raw_cpu_per_scan(small, start, end))
                domain.append(domain_cpu_per_scan(small))
                hops.append(hop_cpu())
    finally:
        for child in children:
            child.close()
    medians = {name: round(statistics.median(values)) for name, values in samples.items()}
    kernel, opened, hop = (round(statistics.median(values)) for values in (raw, domain, hops))

    def listed(values: list[float], digits: int = 0) -> str:
        return ", ".join(f"{v:.{digits}f}" for v in values)

    print("server CPU per answer (wrk, one connection):")
    for name, median in medians.items():
        print(f"  {name:<18} {median:7d} us   (rounds: {listed(samples[name])})")
    print(f"small target: a Python process importing {PYTHON_IMPORTS}, {size} mappings")
    print("its scan's parts, timed here in this process (CPU):")
    print(f"  raw ioctl            {kernel:7d} us   (rounds: {listed(raw)})")
    print(f"  open, scan, encode   {opened:7d} us   (rounds: {listed(domain)}): the scan thread's part")
    print(f"  an empty pool job    {hop:7d} us   (rounds: {listed(hops)}): the hop there and back")
    print(
        f"  the server's threads slept {statistics.median(naps):.1f} times a small scan answer "
        f"(rounds: {listed(naps, 1)})"
    )
    health, scan = medians["pmscan"], medians[SCAN]
    rest = scan - health - opened - hop
    print(
        f"small scan {scan} us = /healthz {health} + open, scan, encode {opened} (the ioctl {kernel} of it) "
        f"+ hop {hop} + the rest {rest} (dependencies, body, audit, the answer's bytes)"
    )
    print(
        f"least a small scan answer can cost through FastAPI here: {medians['FastAPI']} + {kernel} = "
        f"{medians['FastAPI'] + kernel} us"
    )
    ratio = scan / (health + kernel)
    per_round = ", ".join(
        f"{s / (h + k):.2f}" for s, h, k in zip(samples[SCAN], samples["pmscan"], raw, strict=True)
    )
    print(
        f"small scan / (pmscan's GET /healthz + raw ioctl) = {scan} / ({health} + {kernel}) = "
        f"{ratio:.2f} (rounds: {per_round}); target: at most {SMALL_SCAN_RATIO} "
        f"({'met' if ratio <= SMALL_SCAN_RATIO else 'missed'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
