"""Faults, on real servers: the target dies during a whole-answer scan, the client goes away
mid-stream, targets exit while they are being opened and scanned, the kernel denies access.

Covered elsewhere, not repeated here: the target killed mid-stream in NDJSON and raw records
(tests/http/test_scan_http.py ``TestExitMidStream``), SIGTERM mid-stream and the saturated pool
(503 with Retry-After, then recovery) (tests/http/test_limits.py ``TestGracefulShutdown``,
``TestConcurrentScans``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import struct
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from app.pagemap import open_scan
from app.pagemap.exceptions import ProcessGone
from app.pagemap.process import TargetProcess
from tests.support.children import many_regions, sleepers
from tests.support.metrics import metric, until
from tests.support.resources import Resources
from tests.support.server import ServerProcess, any_user_server_command
from tests.support.target import Target
from tests.support.users import NOBODY, OTHER, as_user, running_as_root, sleeper

RECORD = struct.Struct("<QQQ")
TRAILER_MARK, ERROR_MARK = (1 << 64) - 1, (1 << 64) - 2
NDJSON, JSON, BINARY = "application/x-ndjson", "application/json", "application/octet-stream"


@pytest.fixture(scope="module")
def small_chunks() -> Iterator[ServerProcess]:
    # 16 records per kernel call: 262,144 regions take 16,384 calls, seconds.
    with ServerProcess(auth="off", chunk_records=16, json_max_regions=1 << 20) as running:
        yield running


@pytest.fixture(scope="module")
def big() -> Iterator[subprocess.Popen[bytes]]:
    with many_regions() as process:  # 262,144 regions, 21 MB of NDJSON
        yield process


@pytest.fixture(scope="module")
def total_regions(server: ServerProcess, big: subprocess.Popen[bytes]) -> int:
    with server.client() as http:
        response = http.post("/scan", json={"pid": big.pid}, headers={"Accept": BINARY})
    return RECORD.unpack(response.content[-RECORD.size :])[2]


@pytest.fixture(scope="module")
def roomy_server() -> Iterator[ServerProcess]:
    """A worker for each concurrent request of TestTargetsExitWhileScanned: never a 503."""
    with ServerProcess(auth="off", workers=len(TestTargetsExitWhileScanned.KINDS)) as running:
        yield running


@pytest.fixture(scope="module")
def unprivileged() -> Iterator[ServerProcess]:
    """The server as ``nobody``, without capabilities."""
    command, env = any_user_server_command()
    with ServerProcess(auth="off", prefix=as_user(NOBODY), command=command, process_env=env) as running:
        yield running


class TestTargetKilledDuringAWholeAnswer:
    """``application/json`` and ``/summary`` are whole answers: the status comes after the scan,
    so a target that dies during it is a 410, never a 200 with part of its memory."""

    @pytest.mark.parametrize(("path", "accept"), [("/scan", JSON), ("/summary", None)])
    def test_410(self, small_chunks: ServerProcess, target: Target, path: str, accept: str | None) -> None:
        area = target.reserve("sparse", 1 << 30)
        target.read(area, 0, 1 << 17, 2)  # the zero page at every other page: 262,144 regions
        body = {"pid": target.pid, "start": area.start, "end": area.end}
        headers = {"Accept": accept} if accept else {}
        with small_chunks.client() as http, small_chunks.client() as watcher, ThreadPoolExecutor(1) as pool:
            answer = pool.submit(http.post, path, json=body, headers=headers)
            until(lambda: metric(watcher, "pmscan_scan_workers_busy") == 1, "the scan started", timeout=5)
            assert not answer.done(), "the scan ended before the target was killed: make it longer"
            os.kill(target.pid, signal.SIGKILL)
            target._proc.wait()
            response = answer.result(timeout=30)
            assert response.status_code == 410, response.text[:300]
            assert response.json()["detail"]["code"] == "EXITED"
            until(lambda: metric(watcher, "pmscan_scan_workers_busy") == 0, "the worker is free", timeout=1)


class TestClientGoesAway:
    """A client that closes its connection mid-answer: the scan stops (it does not run to the
    end), its worker is free at once, and nothing of it stays open."""

    @pytest.mark.parametrize("accept", [NDJSON, BINARY, JSON])
    def test_the_scan_stops_and_the_worker_is_freed(
        self,
        server: ServerProcess,
        big: subprocess.Popen[bytes],
        total_regions: int,
        accept: str,
        stress_report: dict[str, Any],
    ) -> None:
        body = json.dumps({"pid": big.pid}).encode()
        request = (
            b"POST /scan HTTP/1.1\r\nHost: pmscan\r\nContent-Type: application/json\r\n"
            b"Accept: %s\r\nContent-Length: %d\r\n\r\n%s" % (accept.encode(), len(body), body)
        )
        with server.client() as http:
            regions_before = metric(http, "pmscan_scan_regions_total")
            conn = socket.socket()
            try:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window
                conn.connect(("127.0.0.1", server.port))
                conn.sendall(request)
                until(lambda: metric(http, "pmscan_scan_workers_busy") == 1, "the scan started", timeout=5)
                if accept != JSON:
                    conn.settimeout(10)
                    assert conn.recv(64).startswith(b"HTTP/1.1 200")
            finally:
                # Unread data in the receive buffer: the close is a reset, as when a client dies.
                conn.close()
            took = until(
                lambda: metric(http, "pmscan_scan_workers_busy") == 0, "the worker is free", timeout=2
            )
            regions = metric(http, "pmscan_scan_regions_total") - regions_before
            handles = Resources.of(server.pid).scan_handles
        stress_report.setdefault("client_gone", {})[accept] = {
            "worker_free_ms": round(took * 1000, 1),
            "regions_scanned": int(regions),
            "regions_in_all": total_regions,
        }
        assert not handles, f"left open: {handles}"
        if accept == JSON:  # a whole answer: scanned before anything is sent, so to its end
            assert took < 2
        else:
            # What was scanned is what the socket buffers took before the reset, and a chunk ahead.
            assert regions < total_regions, f"the scan went on to its end: {regions} regions"
            assert took < 0.5


class TestExitBetweenOpenAndScan:
    """Found, then gone before its pagemap is opened: the process exited (410), it is not unknown
    (404). A reaped process's files answer ESRCH, as a pid that never existed does."""

    def test_target_process(self) -> None:
        with sleepers(1) as (process,):
            target = TargetProcess(process.pid)
            process.kill()
            process.wait()
            try:
                with pytest.raises(ProcessGone):
                    _ = target.pagemap_fd
            finally:
                target.close()

    def test_scan(self) -> None:
        with sleepers(1) as (process,):
            scan = open_scan(process.pid)
            process.kill()
            process.wait()
            try:
                with pytest.raises(ProcessGone):
                    scan.next_chunk()
            finally:
                scan.close()


class TestTargetsExitWhileScanned:
    """Processes that exit at any moment: before they are opened, between the open and the scan,
    during it, after it. Every answer is one a client can trust: a complete 200, a stream ended by
    the EXITED error, 404 (reaped: no such process) or 410 (exited); never a 5xx, never a stream
    that stops without its trailer."""

    ROUNDS = 150
    KINDS = (("/scan", NDJSON), ("/scan", JSON), ("/scan", BINARY), ("/summary", None), ("maps", None))

    def outcome(self, http: httpx.Client, pid: int, path: str, accept: str | None) -> str:
        if path == "maps":
            response = http.get(f"/processes/{pid}/maps")
        else:
            response = http.post(path, json={"pid": pid}, headers={"Accept": accept} if accept else None)
        status = response.status_code
        if status != 200:
            assert status in (404, 410), f"{path} {accept}: {status} {response.text[:300]}"
            return str(status)
        if accept == NDJSON:
            last = json.loads(response.text.splitlines()[-1])
            if "error" in last:
                assert last["error"]["code"] == "EXITED", last
                return "200 EXITED"
            assert set(last) == {"walk_end", "regions", "pages"}, last
        elif accept == BINARY:
            mark, number, _ = RECORD.unpack(response.content[-RECORD.size :])
            if mark == ERROR_MARK:
                assert number == 3, number  # ESRCH
                return "200 EXITED"
            assert mark == TRAILER_MARK
        return "200"

    def test_every_answer_is_whole_or_an_error(
        self, roomy_server: ServerProcess, stress_report: dict[str, Any]
    ) -> None:
        server = roomy_server
        rng = random.Random(7)
        outcomes: Counter[str] = Counter()
        with ThreadPoolExecutor(len(self.KINDS)) as pool:
            clients = [server.client() for _ in self.KINDS]
            try:
                for _ in range(self.ROUNDS):
                    process = subprocess.Popen(["sleep", "5"])
                    answers = [
                        pool.submit(self.outcome, http, process.pid, path, accept)
                        for http, (path, accept) in zip(clients, self.KINDS, strict=True)
                    ]
                    time.sleep(rng.uniform(0, 0.004))
                    process.kill()
                    if rng.random() < 0.5:
                        process.wait()  # reaped: the pid is gone (404); else a zombie for a while (410)
                    for answer in answers:
                        outcomes[answer.result(timeout=30)] += 1
                    process.wait()
            finally:
                for http in clients:
                    http.close()
        stress_report["exit_races"] = dict(outcomes)
        assert sum(outcomes.values()) == self.ROUNDS * len(self.KINDS)


@pytest.mark.root
@pytest.mark.skipif(not running_as_root(), reason="needs root to run the server and a target as other users")
class TestAccessDenied:
    """A server without privileges (``nobody``, no capabilities) asked about a process of another
    uid: the kernel refuses to open it, and every route says so with 403 EACCES; its own user's
    process it scans (the refusal is the kernel's, for that process)."""

    @pytest.mark.parametrize("accept", [NDJSON, JSON, BINARY])
    def test_scan(self, unprivileged: ServerProcess, accept: str) -> None:
        with sleeper(OTHER) as other, sleeper(NOBODY) as own, unprivileged.client() as http:
            denied = http.post("/scan", json={"pid": other.pid}, headers={"Accept": accept})
            allowed = http.post("/scan", json={"pid": own.pid}, headers={"Accept": accept})
        assert denied.status_code == 403, denied.text
        assert denied.json()["detail"]["code"] == "EACCES"
        assert allowed.status_code == 200, allowed.text

    @pytest.mark.parametrize("route", ["summary", "maps"])
    def test_other_routes(self, unprivileged: ServerProcess, route: str) -> None:
        with sleeper(OTHER) as other, sleeper(NOBODY) as own, unprivileged.client() as http:

            def ask(pid: int) -> httpx.Response:
                if route == "maps":
                    return http.get(f"/processes/{pid}/maps")
                return http.post("/summary", json={"pid": pid})

            denied, allowed = ask(other.pid), ask(own.pid)
        assert denied.status_code == 403, denied.text
        assert denied.json()["detail"]["code"] == "EACCES"
        assert allowed.status_code == 200, allowed.text
