"""POST /scan has one request path: every answer, refusals included, comes from its route, on one
real server.

Each request is sent twice: with a Content-Length and chunked (no Content-Length), which reads
the body another way; both must give the same answer. Every answer is counted under the route's
template, and audited where it touched a process or authentication refused it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.children import sleepers
from tests.support.metrics import metric, until
from tests.support.server import ServerProcess, issue_token

NDJSON, JSON, BINARY = "application/x-ndjson", "application/json", "application/octet-stream"
MAX_BODY = 1024


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
    with ServerProcess(audit_log=audit_file, token_file=token_file, max_body_bytes=MAX_BODY) as running:
        yield running


@pytest.fixture(scope="module")
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    with sleepers(1) as (process,):
        yield process


def both_ways(
    server: ServerProcess,
    body: dict[str, Any] | str,
    *,
    token: str | None,
    accept: str = NDJSON,
    content_type: str = "application/json",
) -> tuple[httpx.Response, httpx.Response]:
    """The answers to one request sent with a Content-Length and chunked."""
    content = (body if isinstance(body, str) else json.dumps(body)).encode()
    headers = {"Content-Type": content_type, "Accept": accept}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    with server.client(headers=headers) as http:
        sized = http.post("/scan", content=content)
        chunked = http.post("/scan", content=iter([content[:5], content[5:]]))
    assert "content-length" not in chunked.request.headers
    return sized, chunked


def same(sized: httpx.Response, chunked: httpx.Response) -> None:
    assert sized.status_code == chunked.status_code, (sized.text, chunked.text)
    assert sized.headers["content-type"] == chunked.headers["content-type"]
    assert sized.content == chunked.content
    for header in ("www-authenticate", "retry-after"):
        assert sized.headers.get(header) == chunked.headers.get(header)


def audit_lines(audit_file: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in audit_file.read_text().splitlines()] if audit_file.exists() else []


@pytest.mark.parametrize("accept", [NDJSON, JSON, BINARY])
def test_every_format_either_way(
    server: ServerProcess, reader: str, sleeper: subprocess.Popen[bytes], accept: str
) -> None:
    sized, chunked = both_ways(server, {"pid": sleeper.pid}, token=reader, accept=accept)
    assert sized.status_code == 200
    assert sized.headers["content-type"] == accept
    same(sized, chunked)


PADDED = '{"pid": 1' + " " * MAX_BODY + "}"

REFUSALS: list[tuple[str, dict[str, Any] | str, str | None, dict[str, str], int, str | None]] = [
    # (case, body, token, headers, status, code of the error body)
    ("invalid field", {"pid": "one"}, "reader", {}, 422, None),
    ("infinity", '{"pid": 1e400}', "reader", {}, 422, None),
    ("not JSON", "{", "reader", {}, 422, None),
    ("pid too large", {"pid": 2**31}, "reader", {}, 422, None),
    ("WP_MATCHING without write", {"pid": 1, "flags": 1}, "reader", {}, 403, "SCOPE"),
    ("no token", {"pid": 1}, None, {}, 401, "UNAUTHENTICATED"),
    ("unknown token", {"pid": 1}, "pmscan_" + "A" * 43, {}, 401, "UNAUTHENTICATED"),
    ("body too large", PADDED, "reader", {}, 413, "BODY_TOO_LARGE"),
    ("not a JSON type", {"pid": 1}, "reader", {"content_type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("no format offered", {"pid": 1}, "reader", {"accept": "text/html"}, 406, "NOT_ACCEPTABLE"),
    ("no such process", {"pid": 4194304}, "reader", {}, 404, "ESRCH"),
]


@pytest.mark.parametrize(
    ("body", "token", "headers", "status", "code"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_refusals_either_way_counted_under_the_route(  # noqa: PLR0917 (parameters of the case)
    server: ServerProcess,
    reader: str,
    body: dict[str, Any] | str,
    token: str | None,
    headers: dict[str, str],
    status: int,
    code: str | None,
) -> None:
    series = {"route": "/scan", "method": "POST", "status": str(status)}
    with server.client(headers={"Authorization": f"Bearer {reader}"}) as admin:
        before = metric(admin, "pmscan_http_requests_total", **series)
        sized, chunked = both_ways(server, body, token=reader if token == "reader" else token, **headers)
        assert sized.status_code == status, sized.text
        same(sized, chunked)
        detail = sized.json()["detail"]
        if code is None:
            assert isinstance(detail, list) and detail[0]["loc"][0] == "body", detail
        else:
            assert detail["code"] == code
        until(lambda: metric(admin, "pmscan_http_requests_total", **series) == before + 2, "both counted")
    if status == 401:
        assert sized.headers["www-authenticate"].startswith("Bearer")


def test_an_answer_and_a_refusal_are_audited(
    server: ServerProcess, reader: str, sleeper: subprocess.Popen[bytes], audit_file: Path
) -> None:
    audited = len(audit_lines(audit_file))
    with server.client(headers={"Authorization": f"Bearer {reader}"}) as http:
        assert http.post("/scan", json={"pid": sleeper.pid}).status_code == 200
        assert http.post("/scan", json={"pid": sleeper.pid, "flags": ["WP_MATCHING"]}).status_code == 403
    with server.client() as anonymous:
        assert anonymous.post("/scan", json={"pid": sleeper.pid}).status_code == 401
    until(lambda: len(audit_lines(audit_file)) >= audited + 3, "three audit lines")
    lines = audit_lines(audit_file)[audited:]
    assert [(line["caller"], line["action"], line.get("pid"), line["outcome"]) for line in lines] == [
        ("reader", "scan", sleeper.pid, "ok"),
        ("reader", "refused", None, "SCOPE"),
        ("anonymous", "refused", None, "UNAUTHENTICATED"),
    ]
    assert all(line.get("route", "/scan") == "/scan" for line in lines)
