"""Load on one real server: small-process scans at 1 and 32 connections, large streams in parallel.

The load comes from a small HTTP/1.1 client on raw asyncio streams (uvloop when installed), with
keep-alive connections and requests encoded once: a client library would cost more CPU per
request than the server does (httpx: 0.3-0.5 ms on a 2-core machine), and on one machine the
client takes its CPU from the server. The client's own CPU time is printed next to the results.

Scenarios, each for ``--seconds``:

- ``small xN``: ``POST /scan`` of a small process (``sleep``: about 20 mappings, the whole
  default range, NDJSON) back to back on N connections; scans/s, p50/p99 latency, and every
  answer that was not a complete 200 (503 ``BUSY`` counted apart: the intended answer of a full
  pool).
- ``large xN``: N parallel streams of a process with 262,144 regions (21 MB of NDJSON or 6 MB
  of raw records each); streams/s, MB/s, regions/s.

Run: ``.venv/bin/python bench/load_bench.py [--seconds S] [--json FILE]`` (``make stress`` runs it).
The server runs with its defaults (workers: twice the CPUs), authentication and audit log off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.children import many_regions  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

try:
    import uvloop  # uvicorn[standard] brings it
except ImportError:  # pragma: no cover
    uvloop = None

NDJSON, BINARY = "application/x-ndjson", "application/octet-stream"


def request_bytes(pid: int, accept: str) -> bytes:
    body = json.dumps({"pid": pid}).encode()
    return (
        b"POST /scan HTTP/1.1\r\nHost: pmscan\r\nContent-Type: application/json\r\nAccept: %s\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (accept.encode(), len(body), body)
    )


class Connection:
    """One keep-alive HTTP/1.1 connection: send a request, read the whole response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.bytes_read = 0

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Status and body (the last 256 bytes of a chunked one: enough for the trailer)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
        if b"content-length" in headers:
            length = int(headers[b"content-length"])
            self.bytes_read += length
            return status, await self.reader.readexactly(length)
        tail = b""
        while True:  # chunked
            size = int((await self.reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return status, tail
            chunk = await self.reader.readexactly(size + 2)
            tail = (tail + chunk[:-2])[-256:]
            self.bytes_read += size

    def close(self) -> None:
        self.writer.close()


def complete(status: int, body: bytes, accept: str) -> bool:
    if status != 200:
        return False
    if accept == BINARY:
        return len(body) >= 24 and body[-24:-16] == b"\xff" * 8
    return body.endswith(b"}\n") and b'"walk_end"' in body.rsplit(b"\n", 2)[-2]


@dataclass
class Result:
    name: str
    connections: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    bytes: int = 0
    client_cpu: float = 0.0

    def summary(self) -> dict[str, Any]:
        ok = self.outcomes["ok"]
        ordered = sorted(self.latencies)

        def quantile(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")

        return {
            "scenario": self.name,
            "connections": self.connections,
            "ok_per_second": round(ok / self.seconds, 1),
            "p50_ms": round(quantile(0.50), 3),
            "p99_ms": round(quantile(0.99), 3),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 3) if ordered else None,
            "outcomes": dict(self.outcomes),
            "mb_per_second": round(self.bytes / self.seconds / 1e6, 1),
            "client_cpu_share": round(self.client_cpu / self.seconds, 2),
        }


async def run(
    name: str, port: int, request: bytes, *, accept: str, connections: int, seconds: float
) -> Result:
    result = Result(name, connections, seconds)
    opened = [await Connection.open(port) for _ in range(connections)]
    for conn in opened:  # one warm-up exchange each
        await conn.exchange(request)
    warm_up_bytes = sum(conn.bytes_read for conn in opened)
    deadline = time.perf_counter() + seconds
    cpu = resource.getrusage(resource.RUSAGE_SELF)

    async def loop(conn: Connection) -> None:
        while (started := time.perf_counter()) < deadline:
            try:
                status, body = await conn.exchange(request)
            except (OSError, asyncio.IncompleteReadError) as exc:
                result.outcomes[f"transport {type(exc).__name__}"] += 1
                return
            result.latencies.append(time.perf_counter() - started)
            if complete(status, body, accept):
                result.outcomes["ok"] += 1
            elif status == 503:
                result.outcomes["503 busy"] += 1
            else:
                result.outcomes[f"{status} {body[:80]!r}"] += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(conn) for conn in opened))
    result.seconds = time.perf_counter() - started
    used = resource.getrusage(resource.RUSAGE_SELF)
    result.client_cpu = used.ru_utime - cpu.ru_utime + used.ru_stime - cpu.ru_stime
    result.bytes = sum(conn.bytes_read for conn in opened) - warm_up_bytes
    for conn in opened:
        conn.close()
    return result


def print_table(results: list[dict[str, Any]]) -> None:
    head = f"{'scenario':<22}{'conns':>6}{'ok/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'MB/s':>8}{'client CPU':>11}"
    print(head + "  other answers")
    for r in results:
        other = {k: v for k, v in r["outcomes"].items() if k != "ok"}
        print(
            f"{r['scenario']:<22}{r['connections']:>6}{r['ok_per_second']:>10}{r['p50_ms']:>9}{r['p99_ms']:>9}"
            f"{r['mb_per_second']:>8}{r['client_cpu_share']:>11}  {other or '-'}"
        )


def use_uvloop() -> str:
    if uvloop is None:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per scenario (default 5)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    loop_kind = use_uvloop()
    results: list[dict[str, Any]] = []
    with (
        ServerProcess(auth="off") as server,
        subprocess.Popen(["sleep", "100000"]) as small,
        many_regions() as big,
    ):
        try:
            mappings = len(Path(f"/proc/{small.pid}/maps").read_text().splitlines())
            with server.client() as http:
                workers = http.get("/capabilities").json()["limits"]["workers"]
            print(
                f"pmscan load, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, {workers} scan workers, "
                f"client on {loop_kind}; small process: sleep, {mappings} mappings",
                flush=True,
            )
            small_scan = request_bytes(small.pid, NDJSON)
            for connections in (1, 32):
                scenario = run(
                    f"small x{connections}",
                    server.port,
                    small_scan,
                    accept=NDJSON,
                    connections=connections,
                    seconds=args.seconds,
                )
                results.append(asyncio.run(scenario).summary())
            for accept, label in ((NDJSON, "ndjson"), (BINARY, "binary")):
                for connections in (1, workers):
                    scenario = run(
                        f"large {label} x{connections}",
                        server.port,
                        request_bytes(big.pid, accept),
                        accept=accept,
                        connections=connections,
                        seconds=args.seconds,
                    )
                    results.append(asyncio.run(scenario).summary())
        finally:
            small.kill()
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    failures = sum(v for r in results for k, v in r["outcomes"].items() if k not in ("ok", "503 busy"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
