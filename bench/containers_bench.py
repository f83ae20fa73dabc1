"""The cost of ``GET /containers`` against ``GET /processes``, on a node of about 1,000 processes.

``GET /containers`` reads ``/proc/PID/cgroup`` of every process once and nothing else;
``GET /processes`` reads ``stat``, ``statm``, the owner of ``/proc/PID`` and, for each process's
container, ``/proc/PID/cgroup`` too. Both are measured here in one run, on one server, with wrk
(Debian's ``wrk`` 4.1, one connection, ``--latency``), each after a few warm-up requests, with
the server's CPU time per answer (utime + stime of ``/proc/PID/stat``); then the same two
filtered by one pod (``?pod_uid=``), which costs the same walk of ``/proc``.

The node: ``--processes`` sleeping processes are started for the run (``sleep``, a few hundred
KiB each) on top of what the machine runs; ``--pods`` pods of two containers each (the systemd
driver's tree, containerd's names, in the unified hierarchy: tests/support/kubepods.py) hold half
of them, the rest are in no container. All are killed, and the cgroups removed, at the end.

Run: ``.venv/bin/python bench/containers_bench.py [--processes N] [--pods P] [--seconds S]``; as
root (the cgroups), with wrk installed (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.cgroups import TemporaryCgroup  # noqa: E402
from tests.support.children import stop  # noqa: E402
from tests.support.kubepods import KubePod  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

_LATENCY = re.compile(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (fields 14 and 15 of ``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(server: ServerProcess, path: str, seconds: float) -> dict[str, Any]:
    """One wrk run of ``GET path`` on one connection: answers/s, latency (ms), CPU per answer."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    with server.client() as http:
        for _ in range(3):
            http.get(path).raise_for_status()
        size = len(http.get(path).content)
    cpu = cpu_seconds(server.pid)
    command = [wrk, "-t1", "-c1", f"-d{max(1, math.ceil(seconds))}s", "--latency", server.url + path]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    cpu = cpu_seconds(server.pid) - cpu
    out = done.stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk met errors on {path}:\n{out}")
    latency = {
        m.group(1): float(m.group(2)) * _UNITS[m.group(3)] for m in map(_LATENCY.match, out.splitlines()) if m
    }
    return {
        "path": path,
        "answers_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": latency["50"],
        "p99_ms": latency["99"],
        "cpu_ms_per_answer": 1000 * cpu / requests,
        "bytes": size,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=1000, help="sleeping processes to start")
    parser.add_argument(
        "--pods", type=int, default=50, help="pods (two containers each) holding half of them"
    )
    parser.add_argument("--seconds", type=float, default=10, help="each wrk run")
    parser.add_argument("--json", type=Path, help="write the results there too")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        tree = stack.enter_context(TemporaryCgroup())
        pods = [stack.enter_context(KubePod("systemd", 2, within=tree)) for _ in range(args.pods)]
        children: list[subprocess.Popen[bytes]] = []

        @stack.callback
        def stop_all() -> None:
            for child in children:
                stop(child)

        for index in range(args.processes):
            child = subprocess.Popen(["sleep", "3600"], stdin=subprocess.DEVNULL)
            children.append(child)
            if index % 2 == 0 and pods:
                slot = index // 2
                pods[slot % len(pods)].add(child.pid, (slot // len(pods)) % 2)
        server = stack.enter_context(ServerProcess(auth="off"))
        with httpx.Client(base_url=server.url, timeout=30) as http:
            node = {
                "processes": len(http.get("/processes").json()),
                "containers": len(http.get("/containers").json()),
                "started": args.processes,
                "in_containers": sum(len(c["pids"]) for c in http.get("/containers").json()),
            }
        uid = pods[0].uid if pods else "00000000-0000-0000-0000-000000000000"
        results = [
            run_wrk(server, path, args.seconds)
            for path in (
                "/processes",
                "/containers",
                f"/processes?pod_uid={uid}",
                f"/containers?pod_uid={uid}",
            )
        ]
    report = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "node": node, "results": results}
    print(json.dumps(node))
    print(f"{'GET':<62} {'answers/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/answer':>14} {'bytes':>9}")
    for row in results:
        print(
            f"{row['path']:<62} {row['answers_per_second']:>10.1f} {row['p50_ms']:>8.2f} "
            f"{row['p99_ms']:>8.2f} {row['cpu_ms_per_answer']:>14.2f} {row['bytes']:>9}"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
