"""The audit log: one JSON line per access to a process, checked against the request that made it."""

from __future__ import annotations

import datetime
import json
import logging
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from app.service.audit import JsonFormatter, caller_of
from tests.support.children import many_regions, sleepers
from tests.support.server import ServerProcess, issue_token

Line = dict[str, Any]


@pytest.fixture(scope="module")
def audit_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit") / "audit.log"


@pytest.fixture(scope="module")
def server(audit_file: Path) -> Iterator[ServerProcess]:
    with ServerProcess(auth="off", audit_log=audit_file) as running:
        yield running


@pytest.fixture(scope="module")
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    with sleepers(1) as (process,):
        yield process


def lines(path: Path) -> list[Line]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def new_line(path: Path, before: int, matches: Callable[[Line], bool]) -> Line:
    """The one line written after the first ``before`` lines that ``matches``, waited for (the
    line is written when the response has ended)."""
    deadline = time.monotonic() + 5
    while True:
        found = [line for line in lines(path)[before:] if matches(line)]
        if found or time.monotonic() > deadline:
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.02)


def first_mapping(pid: int) -> tuple[int, int]:
    start, end = Path(f"/proc/{pid}/maps").read_text().split()[0].split("-")
    return int(start, 16), int(end, 16)


def parse_time(text: str) -> datetime.datetime:
    assert text.endswith("Z")
    return datetime.datetime.fromisoformat(text.removesuffix("Z") + "+00:00")


class TestLinesMatchTheRequests:
    def test_streamed_scan(
        self, http: httpx.Client, audit_file: Path, sleeper: subprocess.Popen[bytes]
    ) -> None:
        start, end = first_mapping(sleeper.pid)
        before = len(lines(audit_file))
        t0 = datetime.datetime.now(datetime.UTC)
        response = http.post(
            "/scan", json={"pid": sleeper.pid, "start": hex(start), "end": end, "flags": ["WP_MATCHING"]}
        )
        assert response.status_code == 200
        trailer = json.loads(response.text.splitlines()[-1])
        line = new_line(audit_file, before, lambda x: x["pid"] == sleeper.pid and x["action"] == "scan")
        t1 = datetime.datetime.now(datetime.UTC)
        assert t0 - datetime.timedelta(seconds=1) <= parse_time(line["time"]) <= t1
        assert line["caller"] == "anonymous"
        assert line["client"].startswith("127.0.0.1:")
        assert line["comm"] == Path(f"/proc/{sleeper.pid}/comm").read_text().strip() == "sleep"
        assert (line["start"], line["end"]) == (start, end)
        assert line["flags"] == ["WP_MATCHING"]
        assert (line["format"], line["backend"]) == ("ndjson", "ioctl")
        assert (line["regions"], line["pages"]) == (trailer["regions"], trailer["pages"])
        assert line["outcome"] == "ok"
        assert 0 <= line["duration_seconds"] < 5

    def test_json_scan_with_default_range(
        self, http: httpx.Client, audit_file: Path, sleeper: subprocess.Popen[bytes]
    ) -> None:
        before = len(lines(audit_file))
        document = http.post(
            "/scan", json={"pid": sleeper.pid}, headers={"Accept": "application/json"}
        ).json()
        line = new_line(audit_file, before, lambda x: x["pid"] == sleeper.pid)
        assert (line["start"], line["end"]) == (document["start"], document["end"])
        assert (line["regions"], line["pages"]) == (len(document["regions"]), document["pages"])
        assert (line["action"], line["format"], line["flags"], line["outcome"]) == ("scan", "json", [], "ok")

    def test_summary(self, http: httpx.Client, audit_file: Path, sleeper: subprocess.Popen[bytes]) -> None:
        before = len(lines(audit_file))
        summary = http.post("/summary", json={"pid": sleeper.pid}).json()
        line = new_line(audit_file, before, lambda x: x["pid"] == sleeper.pid)
        assert (line["action"], line["format"], line["outcome"]) == ("summary", "summary", "ok")
        assert (line["start"], line["end"], line["pages"]) == (
            summary["start"],
            summary["end"],
            summary["pages"],
        )

    @pytest.mark.parametrize(
        ("method", "path", "action"),
        [
            ("GET", "/processes/{}/maps", "maps"),
            ("POST", "/processes/{}/clear-soft-dirty", "clear_soft_dirty"),
        ],
    )
    def test_process_routes(
        self,
        *,
        http: httpx.Client,
        audit_file: Path,
        sleeper: subprocess.Popen[bytes],
        method: str,
        path: str,
        action: str,
    ) -> None:
        before = len(lines(audit_file))
        assert http.request(method, path.format(sleeper.pid)).is_success
        line = new_line(audit_file, before, lambda x: x["pid"] == sleeper.pid)
        assert (line["action"], line["comm"], line["outcome"]) == (action, "sleep", "ok")
        assert line["regions"] is None and line["pages"] is None

    def test_error_outcome_is_the_code(self, http: httpx.Client, audit_file: Path) -> None:
        process = subprocess.Popen(["true"])
        try:
            while Path(f"/proc/{process.pid}/stat").read_text().split(") ")[1][0] != "Z":
                time.sleep(0.01)
            before = len(lines(audit_file))
            response = http.post("/summary", json={"pid": process.pid})
            assert response.status_code == 410
            line = new_line(audit_file, before, lambda x: x["pid"] == process.pid)
            assert line["outcome"] == response.json()["detail"]["code"] == "EXITED"
        finally:
            process.wait()

    def test_requests_that_touch_no_process_are_not_audited(
        self, http: httpx.Client, audit_file: Path
    ) -> None:
        before = len(lines(audit_file))
        assert http.get("/capabilities").status_code == 200
        assert http.get("/processes").status_code == 200
        assert http.post("/scan", json={"pid": 0}).status_code == 422
        time.sleep(0.2)
        assert lines(audit_file)[before:] == []


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path, str]]:
    """A server with authentication on, its audit file, and a token ``reader`` (read scope)."""
    directory = tmp_path_factory.mktemp("guarded")
    token_file, audit = directory / "tokens", directory / "audit.log"
    reader = issue_token(token_file, "reader", "read")
    with ServerProcess(token_file=token_file, audit_log=audit) as running:
        yield running, audit, reader


class Refusal(NamedTuple):
    token: str | None  # "reader": the read-only token
    method: str
    path: str
    body: dict[str, int] | None
    caller: str
    outcome: str


class TestRefusals:
    """Who tried what and was refused by authentication: one line each, with no pid."""

    @pytest.mark.parametrize(
        "case",
        [
            Refusal(None, "POST", "/scan", {"pid": 1}, "anonymous", "UNAUTHENTICATED"),
            Refusal("pmscan_" + "A" * 43, "GET", "/processes", None, "anonymous", "UNAUTHENTICATED"),
            Refusal("reader", "POST", "/scan", {"pid": 1, "flags": 1}, "reader", "SCOPE"),  # WP_MATCHING
            Refusal("reader", "POST", "/processes/1/clear-soft-dirty", None, "reader", "SCOPE"),
        ],
        ids=lambda case: f"{case.method} {case.path} {case.outcome}",
    )
    def test_refused_by_authentication(self, guarded: tuple[ServerProcess, Path, str], case: Refusal) -> None:
        server, audit, reader = guarded
        token = reader if case.token == "reader" else case.token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        before = len(lines(audit))
        with server.client(headers=headers) as http:
            response = http.request(case.method, case.path, json=case.body)
        assert response.status_code in (401, 403)
        line = new_line(audit, before, lambda x: x["action"] == "refused")
        route = "/processes/{pid}/clear-soft-dirty" if case.path.startswith("/processes/1") else case.path
        assert {k: line[k] for k in ("caller", "route", "method", "outcome")} == {
            "caller": case.caller,
            "route": route,
            "method": case.method,
            "outcome": case.outcome,
        }
        assert line["client"].startswith("127.0.0.1:")
        assert "pid" not in line

    def test_a_process_refused_by_a_rule_is_an_access(self, guarded: tuple[ServerProcess, Path, str]) -> None:
        server, audit, reader = guarded
        before = len(lines(audit))
        with server.client(headers={"Authorization": f"Bearer {reader}"}) as http:
            assert http.post("/scan", json={"pid": server.pid}).status_code == 403  # pmscan itself
        line = new_line(audit, before, lambda x: x.get("pid") == server.pid)
        assert (line["action"], line["caller"], line["outcome"]) == ("scan", "reader", "DENIED")


class TestStreamEnd:
    def test_client_disconnect_is_written_when_the_stream_ends(
        self, server: ServerProcess, audit_file: Path
    ) -> None:
        with many_regions() as target:
            before = len(lines(audit_file))
            body = json.dumps({"pid": target.pid}).encode()
            with socket.create_connection(("127.0.0.1", server.port)) as conn:
                conn.sendall(
                    b"POST /scan HTTP/1.1\r\nHost: pmscan\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                assert conn.recv(65536).startswith(b"HTTP/1.1 200")
                time.sleep(0.2)
                assert [
                    x for x in lines(audit_file)[before:] if x["pid"] == target.pid
                ] == []  # still streaming
            line = new_line(audit_file, before, lambda x: x["pid"] == target.pid)
        assert line["outcome"] == "client_disconnected"
        assert line["comm"] == "python3" or line["comm"].startswith("python")


class TestFile:
    def test_private(self, server: ServerProcess, audit_file: Path) -> None:
        assert stat.S_IMODE(audit_file.stat().st_mode) == 0o600

    def test_formatter_and_caller(self) -> None:
        record = logging.LogRecord("pmscan.audit", logging.INFO, __file__, 1, "process access", None, None)
        record.created = 0.5
        record.audit = {"caller": "ci", "pid": 7}
        assert json.loads(JsonFormatter().format(record)) == {
            "time": "1970-01-01T00:00:00.500000Z",
            "caller": "ci",
            "pid": 7,
        }

        class Principal:
            name = "reader"

        assert caller_of({"principal": Principal()}) == "reader"
        assert caller_of({}) == "anonymous"
