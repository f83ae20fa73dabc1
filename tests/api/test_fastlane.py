"""POST /scan's fast lane (app.api.fastlane) against the framework's route, on one real server.

A body with a Content-Length is what the fast lane answers; the same body sent chunked (no
Content-Length) goes through the framework's route. Both must give the same answers, refusals
included, and be counted and audited the same way.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.children import sleepers
from tests.support.metrics import metric
from tests.support.server import ServerProcess, issue_token

NDJSON, JSON, BINARY = "application/x-ndjson", "application/json", "application/octet-stream"


@pytest.fixture(scope="module")
def audit_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit") / "audit.log"


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tokens") / "tokens"


@pytest.fixture(scope="module")
def reader(token_file: Path) -> str:
    """A token with the read scope only, named ``reader``."""
    return issue_token(token_file, "reader", "read")


@pytest.fixture(scope="module")
def server(audit_file: Path, token_file: Path, reader: str) -> Iterator[ServerProcess]:
    with ServerProcess(audit_log=audit_file, token_file=token_file) as running:
        yield running


@pytest.fixture(scope="module")
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    with sleepers(1) as (process,):
        yield process


def both_ways(
    server: ServerProcess, body: dict[str, Any] | str, *, token: str | None, accept: str = NDJSON
) -> tuple[httpx.Response, httpx.Response]:
    """The answers to one request sent with a Content-Length (the fast lane) and chunked."""
    content = (body if isinstance(body, str) else json.dumps(body)).encode()
    headers = {"Content-Type": "application/json", "Accept": accept}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    with server.client(headers=headers) as http:
        fast = http.post("/scan", content=content)
        framework = http.post("/scan", content=iter([content[:5], content[5:]]))
    assert "content-length" not in framework.request.headers
    return fast, framework


def same(fast: httpx.Response, framework: httpx.Response) -> None:
    assert fast.status_code == framework.status_code, (fast.text, framework.text)
    assert fast.headers["content-type"] == framework.headers["content-type"]
    assert fast.content == framework.content
    for header in ("www-authenticate", "retry-after"):
        assert fast.headers.get(header) == framework.headers.get(header)


@pytest.mark.parametrize("accept", [NDJSON, JSON, BINARY])
def test_the_same_scan_either_way(
    server: ServerProcess, reader: str, sleeper: subprocess.Popen[bytes], accept: str
) -> None:
    fast, framework = both_ways(server, {"pid": sleeper.pid}, token=reader, accept=accept)
    assert fast.status_code == 200
    same(fast, framework)


@pytest.mark.parametrize(
    ("body", "token", "status"),
    [
        ({"pid": "one"}, "reader", 422),  # invalid: pydantic's 422 naming the field
        ('{"pid": 1e400}', "reader", 422),  # infinity: no 500
        ("{", "reader", 422),  # not JSON
        ({"pid": 1, "flags": 1}, "reader", 403),  # WP_MATCHING needs the write scope
        ({"pid": 1}, None, 401),  # no token
        ({"pid": 1}, "pmscan_" + "A" * 43, 401),  # a token nobody issued
        ({"pid": 2**31}, "reader", 422),
        ({"pid": 4194304}, "reader", 404),  # valid, no such process: the domain's 404
    ],
)
def test_the_same_refusals_either_way(
    server: ServerProcess, reader: str, body: dict[str, Any] | str, token: str | None, status: int
) -> None:
    fast, framework = both_ways(server, body, token=reader if token == "reader" else token)
    assert fast.status_code == status, fast.text
    same(fast, framework)


def test_a_fast_answer_is_counted_and_audited(
    server: ServerProcess, reader: str, sleeper: subprocess.Popen[bytes], audit_file: Path
) -> None:
    series = {"method": "POST", "route": "/scan", "status": "200"}
    with server.client(headers={"Authorization": f"Bearer {reader}"}) as admin:

        def count() -> float:
            return metric(admin, "pmscan_http_requests_total", **series)

        before = count()
        audited = len(audit_file.read_text().splitlines()) if audit_file.exists() else 0
        with server.client(headers={"Authorization": f"Bearer {reader}"}) as http:
            assert http.post("/scan", json={"pid": sleeper.pid}).status_code == 200
        deadline = time.monotonic() + 5
        while len(lines := audit_file.read_text().splitlines()) == audited:
            assert time.monotonic() < deadline, "no audit line"
            time.sleep(0.02)
        assert count() == before + 1
    (line,) = [json.loads(text) for text in lines[audited:]]
    assert (line["caller"], line["action"], line["pid"], line["outcome"]) == (
        "reader",
        "scan",
        sleeper.pid,
        "ok",
    )
