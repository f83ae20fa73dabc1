"""The floor under every pmscan answer: what one HTTP request costs a uvicorn server on this
machine before pmscan does anything, measured in one run.

Four servers answer ``GET /healthz`` with a small JSON object, each in its own process under the
same uvicorn settings as ``pmscan-server`` (uvloop, httptools, no access log), one after the
other, in interleaved rounds:

- ``raw ASGI``: a bare ASGI callable, uvicorn alone;
- ``Starlette``: one route;
- ``FastAPI``: one ``async def`` route, telemetry off as pmscan has it;
- ``pmscan``: ``pmscan-server`` itself (authentication and audit log off), its ``/healthz``.

wrk (one connection, keep-alive, ``--seconds`` a round) drives each; the server's CPU per answer
comes from its ``/proc/PID/stat`` (utime + stime), as ``bench/load_bench.py`` measures it. The
medians over the rounds are printed, next to the raw ``ioctl(PAGEMAP_SCAN)`` of the load bench's
small target (about 300 mappings) timed in the same run: FastAPI's floor plus that kernel call is
the least one small scan answer can cost through FastAPI here, whatever pmscan does.

Run: ``.venv-dev/bin/python bench/floor_bench.py [--seconds S] [--rounds N]`` (wrk: ``make tools``).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.pagemap.scanner import FIRST_CHUNK_RECORDS  # noqa: E402
from bench.load_bench import (  # noqa: E402
    SMALL_TARGET_US,
    cpu_seconds,
    default_range,
    raw_answers_per_second,
    small_target,
    wrk,
)
from tests.support.server import ServerProcess, free_port  # noqa: E402

KINDS = ("raw ASGI", "Starlette", "FastAPI")
BODY = b'{"status":"ok"}'


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
        f"{os.getloadavg()[0]:.1f}: server CPU per GET /healthz answer, wrk on one connection, "
        f"{args.rounds} rounds of {args.seconds} s"
    )
    children = [Child(kind) for kind in KINDS]
    try:
        with ServerProcess(auth="off") as pmscan, small_target() as small:
            servers = {c.kind: (c.url, c.pid) for c in children}
            servers["pmscan"] = (pmscan.url, pmscan.pid)
            start, end = default_range(pmscan, small.pid)
            samples: dict[str, list[float]] = {name: [] for name in servers}
            raw: list[float] = []
            for _ in range(args.rounds):
                for name, (url, pid) in servers.items():
                    samples[name].append(cpu_per_answer(url, pid, args.seconds))
                rate = raw_answers_per_second(small.pid, start, end, vec_len=FIRST_CHUNK_RECORDS)
                raw.append(1e6 / rate.answers_per_second)
    finally:
        for child in children:
            child.close()
    medians = {name: round(statistics.median(values)) for name, values in samples.items()}
    kernel = round(statistics.median(raw))
    for name, median in medians.items():
        rounds = ", ".join(f"{v:.0f}" for v in samples[name])
        print(f"  {name:<10} {median:7d} us an answer   (rounds: {rounds})")
    print(f"  raw ioctl of the small target: {kernel} us a scan")
    least = medians["FastAPI"] + kernel
    print(
        f"least a small scan answer can cost through FastAPI here: {medians['FastAPI']} + {kernel} = "
        f"{least} us (issue 13's target: {SMALL_TARGET_US} us, which leaves "
        f"{SMALL_TARGET_US - least} us for everything pmscan does)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
