"""The limits, on real servers: body size, content type, concurrent scans, scan time, the size of
application/json answers, and the end of streams when the server is stopped."""

from __future__ import annotations

import errno
import json
import shutil
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from app.pagemap import Category
from tests.support.children import many_regions, sleepers
from tests.support.metrics import metric, until
from tests.support.server import ServerProcess
from tests.support.target import Target

WORKERS = 2
QUEUE_LIMIT = 1
QUEUE_SECONDS = 3.0
MAX_BODY = 1024
JSON_MAX_REGIONS = 8
U64_MAX = (1 << 64) - 1
RECORD = struct.Struct("<QQQ")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess(
        auth="off",
        workers=WORKERS,
        queue_limit=QUEUE_LIMIT,
        queue_seconds=QUEUE_SECONDS,
        max_body_bytes=MAX_BODY,
        json_max_regions=JSON_MAX_REGIONS,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    with sleepers(1) as (process,):
        yield process


@pytest.fixture(scope="module")
def big() -> Iterator[subprocess.Popen[bytes]]:
    """A target with about 262,000 regions: 21 MB of NDJSON."""
    with many_regions() as process:
        yield process


def raw_request(port: int, head: bytes, body: bytes = b"", *, rcvbuf: int | None = None) -> socket.socket:
    """A connection with one request sent (``head`` without the final blank line)."""
    conn = socket.socket()
    if rcvbuf is not None:
        # A small fixed receive window: the server soon blocks on a client that does not read.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    conn.connect(("127.0.0.1", port))
    conn.sendall(head + b"\r\n\r\n" + body)
    return conn


def read_response(conn: socket.socket) -> tuple[int, bytes]:
    """Status and body of a response with a Content-Length."""
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    length = next(int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length:"))
    while len(body) < length:
        body += conn.recv(65536)
    return int(lines[0].split()[1]), body


def scan_request(pid: int, path: str = "/scan") -> tuple[bytes, bytes]:
    body = json.dumps({"pid": pid}).encode()
    head = b"POST %s HTTP/1.1\r\nHost: pmscan\r\nContent-Type: application/json\r\nContent-Length: %d" % (
        path.encode(),
        len(body),
    )
    return head, body


def padded(pid: int, size: int) -> bytes:
    """``{"pid": pid}`` padded with spaces to ``size`` bytes (still valid JSON)."""
    body = json.dumps({"pid": pid}).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


class TestBodySize:
    def test_content_length_refused_before_the_body_is_sent(self, server: ServerProcess) -> None:
        head = (
            b"POST /summary HTTP/1.1\r\nHost: pmscan\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5000"
        )
        with raw_request(server.port, head) as conn:  # no body is sent: the answer cannot wait for it
            status, body = read_response(conn)
        assert status == 413
        detail = json.loads(body)["detail"]
        assert detail["code"] == "BODY_TOO_LARGE"
        assert str(MAX_BODY) in detail["message"]

    def test_chunked_body_counted_as_it_arrives(
        self, http: httpx.Client, sleeper: subprocess.Popen[bytes]
    ) -> None:
        body = padded(sleeper.pid, 3 * MAX_BODY)
        chunks = iter([body[i : i + 256] for i in range(0, len(body), 256)])
        response = http.post("/summary", content=chunks, headers={"Content-Type": "application/json"})
        assert response.status_code == 413
        assert response.json()["detail"]["code"] == "BODY_TOO_LARGE"

    @pytest.mark.parametrize("size", [MAX_BODY - 1, MAX_BODY])
    def test_up_to_the_limit(self, http: httpx.Client, sleeper: subprocess.Popen[bytes], size: int) -> None:
        content = padded(sleeper.pid, size)
        assert len(content) == size
        chunks = iter([content[:100], content[100:]])
        for body in (content, chunks):
            response = http.post("/summary", content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 200, response.text


class TestContentType:
    @pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", None, "application/json"])
    def test_json_whatever_curl_says(
        self, http: httpx.Client, sleeper: subprocess.Popen[bytes], content_type: str | None
    ) -> None:
        headers = {"Content-Type": content_type} if content_type else {}
        response = http.post("/summary", content=json.dumps({"pid": sleeper.pid}), headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["pid"] == sleeper.pid

    @pytest.mark.parametrize(
        "content_type", ["text/plain", "multipart/form-data; boundary=x", "application/xml"]
    )
    def test_other_types_refused(
        self, http: httpx.Client, sleeper: subprocess.Popen[bytes], content_type: str
    ) -> None:
        response = http.post(
            "/summary", content=json.dumps({"pid": sleeper.pid}), headers={"Content-Type": content_type}
        )
        assert response.status_code == 415
        assert response.json()["detail"]["code"] == "UNSUPPORTED_MEDIA_TYPE"

    @pytest.mark.skipif(shutil.which("curl") is None, reason="no curl here")
    def test_curl_d(self, server: ServerProcess, sleeper: subprocess.Popen[bytes]) -> None:
        result = subprocess.run(
            ["curl", "-sS", "-d", json.dumps({"pid": sleeper.pid}), f"{server.url}/summary"],
            capture_output=True,
            check=True,
            timeout=10,
        )
        assert json.loads(result.stdout)["pid"] == sleeper.pid


@pytest.fixture
def full_pool(server: ServerProcess, http: httpx.Client, big: subprocess.Popen[bytes]) -> Iterator[None]:
    """Every worker slot held by a stream whose client reads nothing; when the test is over,
    the clients go away and their streams end, giving their slots back."""
    streams = [raw_request(server.port, *scan_request(big.pid), rcvbuf=4096) for _ in range(WORKERS)]
    try:
        for conn in streams:
            conn.settimeout(10)
            assert conn.recv(64).startswith(b"HTTP/1.1 200")
        assert metric(http, "pmscan_scan_workers_busy") == WORKERS
        yield
    finally:
        for conn in streams:
            conn.close()
    until(lambda: metric(http, "pmscan_scan_workers_busy") == 0, "the streams gave their slots back")


class TestConcurrentScans:
    """A request that finds every worker busy waits in a bounded queue (QUEUE_LIMIT requests,
    QUEUE_SECONDS each), else gets 503 BUSY with Retry-After."""

    @pytest.mark.parametrize("path", ["/summary", "/scan"])
    def test_waits_for_a_worker_then_is_served(
        self,
        server: ServerProcess,
        http: httpx.Client,
        big: subprocess.Popen[bytes],
        sleeper: subprocess.Popen[bytes],
        path: str,
    ) -> None:
        streams = [raw_request(server.port, *scan_request(big.pid), rcvbuf=4096) for _ in range(WORKERS)]
        with ThreadPoolExecutor(1) as waiting:
            try:
                for conn in streams:
                    conn.settimeout(10)
                    assert conn.recv(64).startswith(b"HTTP/1.1 200")
                answer = waiting.submit(http.post, path, json={"pid": sleeper.pid})
                until(lambda: metric(http, "pmscan_scan_queue_waiting") == 1, "the request is queued")
                assert not answer.done()
                assert http.get("/healthz").status_code == 200  # the event loop is not blocked
            finally:
                for conn in streams:
                    conn.close()  # a slot comes free: the queued request takes it
            response = answer.result(timeout=QUEUE_SECONDS)
        assert response.status_code == 200, response.text
        assert metric(http, "pmscan_scan_queue_waiting") == 0
        until(lambda: metric(http, "pmscan_scan_workers_busy") == 0, "every slot is free again")

    @pytest.mark.usefixtures("full_pool")
    def test_waits_no_longer_than_queue_seconds(
        self, http: httpx.Client, sleeper: subprocess.Popen[bytes]
    ) -> None:
        rejected = metric(http, "pmscan_requests_rejected_total", reason="busy")
        started = time.monotonic()
        response = http.post("/scan", json={"pid": sleeper.pid})
        waited = time.monotonic() - started
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "1"
        assert response.json()["detail"]["code"] == "BUSY"
        assert waited >= QUEUE_SECONDS - 0.1  # it did wait its turn first
        assert metric(http, "pmscan_requests_rejected_total", reason="busy") == rejected + 1
        assert metric(http, "pmscan_scan_queue_waiting") == 0

    @pytest.mark.usefixtures("full_pool")
    @pytest.mark.parametrize("waiting", ["/scan", "/summary"])  # a streaming and a whole answer
    def test_a_full_queue_refuses_at_once_and_a_client_that_leaves_leaves_it(
        self, server: ServerProcess, http: httpx.Client, sleeper: subprocess.Popen[bytes], waiting: str
    ) -> None:
        gone = {"method": "POST", "route": waiting, "status": "499"}  # nginx's "client closed request"
        gone_before = metric(http, "pmscan_http_requests_total", **gone)
        with raw_request(server.port, *scan_request(sleeper.pid, waiting)):
            until(lambda: metric(http, "pmscan_scan_queue_waiting") == QUEUE_LIMIT, "the queue is full")
            started = time.monotonic()
            pid = {"pid": sleeper.pid}
            for response in (
                http.post("/summary", json=pid),
                http.post("/scan", json=pid),
                http.get("/processes"),
            ):
                assert response.status_code == 503, response.text
                assert response.json()["detail"]["code"] == "BUSY"
            assert time.monotonic() - started < QUEUE_SECONDS / 2  # refused without waiting
            left = time.monotonic()
        # The waiting client closed its connection: its place in the queue is freed at once, not
        # when its wait would have timed out, and it took no worker.
        until(lambda: metric(http, "pmscan_scan_queue_waiting") == 0, "the client left the queue")
        assert time.monotonic() - left < QUEUE_SECONDS / 2
        assert metric(http, "pmscan_scan_workers_busy") == WORKERS
        assert metric(http, "pmscan_http_requests_total", **gone) == gone_before + 1

    def test_no_queue_refuses_at_once(
        self, big: subprocess.Popen[bytes], sleeper: subprocess.Popen[bytes]
    ) -> None:
        with ServerProcess(auth="off", workers=1, queue_limit=0) as server, server.client() as http:
            with raw_request(server.port, *scan_request(big.pid), rcvbuf=4096) as stream:
                stream.settimeout(10)
                assert stream.recv(64).startswith(b"HTTP/1.1 200")
                response = http.post("/summary", json={"pid": sleeper.pid})
                assert response.status_code == 503
                assert response.json()["detail"]["code"] == "BUSY"
            until(lambda: http.post("/summary", json={"pid": sleeper.pid}).status_code == 200, "recovered")


class TestJsonMaxRegions:
    def test_too_many_regions(self, http: httpx.Client, sleeper: subprocess.Popen[bytes]) -> None:
        regions = json.loads(http.post("/scan", json={"pid": sleeper.pid}).text.splitlines()[-1])["regions"]
        assert regions > JSON_MAX_REGIONS
        response = http.post("/scan", json={"pid": sleeper.pid}, headers={"Accept": "application/json"})
        assert response.status_code == 413
        assert response.json()["detail"]["code"] == "TOO_LARGE"
        assert str(JSON_MAX_REGIONS) in response.json()["detail"]["message"]

    @pytest.mark.parametrize("bounds", [{"vec_len": 1 << 63}, {"vec_len": U64_MAX}, {"max_pages": U64_MAX}])
    def test_counts_past_any_answer_bound_nothing(
        self, http: httpx.Client, sleeper: subprocess.Popen[bytes], bounds: dict[str, int]
    ) -> None:
        """2^64-1 (C's -1) is no limit: the answer is as large as without it, so too large here."""
        response = http.post(
            "/scan", json={"pid": sleeper.pid, **bounds}, headers={"Accept": "application/json"}
        )
        assert response.status_code == 413, response.text
        assert response.json()["detail"]["code"] == "TOO_LARGE"

    def test_paged_with_vec_len(self, http: httpx.Client, sleeper: subprocess.Popen[bytes]) -> None:
        body = {"pid": sleeper.pid, "vec_len": JSON_MAX_REGIONS}
        response = http.post("/scan", json=body, headers={"Accept": "application/json"})
        assert response.status_code == 200
        document = response.json()
        assert len(document["regions"]) == JSON_MAX_REGIONS
        assert document["walk_end"] == document["regions"][-1]["end"] < document["end"]

    def test_write_protection_needs_a_bounded_answer(
        self, http: httpx.Client, sleeper: subprocess.Popen[bytes]
    ) -> None:
        beyond = JSON_MAX_REGIONS + 1
        for bounds in (
            {},
            {"max_pages": beyond},
            {"vec_len": beyond},
            {"max_pages": U64_MAX},
            {"vec_len": U64_MAX},
        ):
            body = {"pid": sleeper.pid, "flags": ["WP_MATCHING"], **bounds}
            response = http.post("/scan", json=body, headers={"Accept": "application/json"})
            assert response.status_code == 413, bounds
            assert response.json()["detail"]["code"] == "TOO_LARGE"


class TestJsonWriteProtection:
    """``application/json`` with ``WP_MATCHING``, bounded by ``max_pages`` or ``vec_len``, against
    the kernel's own answer: the document reports what the kernel reports, and exactly the pages
    reported are protected again (the others still read WRITTEN)."""

    WRITTEN_PAGES = 2 * JSON_MAX_REGIONS  # every other page: one region each

    @pytest.mark.parametrize(
        "bounds",
        [
            {"max_pages": JSON_MAX_REGIONS},
            {"max_pages": 3},
            {"max_pages": 3, "vec_len": 4 * JSON_MAX_REGIONS},  # max_pages bounds it: vec_len may not
            {"vec_len": JSON_MAX_REGIONS},
        ],
        ids=["max_pages at the limit", "max_pages below", "max_pages, vec_len beyond", "vec_len"],
    )
    def test_reports_and_protects_what_the_kernel_would(
        self, http: httpx.Client, target: Target, bounds: dict[str, int]
    ) -> None:
        area = target.anon("tracked", 2 * self.WRITTEN_PAGES)
        target.uffd_wp(area)
        target.write(area, 0, self.WRITTEN_PAGES, 2)
        written = int(Category.WRITTEN)
        selection = {"category_mask": written, "return_mask": written}
        # The kernel's own answer for the same state and bounds, without write-protecting.
        expected_walk_end, expected = target.kernel_scan(
            area.start,
            area.end,
            mask=written,
            return_mask=written,
            max_pages=bounds.get("max_pages", 0),
            vec_len=bounds.get("vec_len", 1 << 16),
        )
        assert 0 < len(expected) < self.WRITTEN_PAGES

        body = {"pid": target.pid, "start": area.start, "end": area.end, "flags": ["WP_MATCHING"]}
        response = http.post(
            "/scan", json={**body, **selection, **bounds}, headers={"Accept": "application/json"}
        )
        assert response.status_code == 200, response.text
        document = response.json()
        reported = [(r["start"], r["end"], written) for r in document["regions"]]
        assert reported == expected
        assert document["walk_end"] == max(expected_walk_end, expected[-1][1])
        assert document["pages"] == sum((end - start) // target.page_size for start, end, _ in expected)

        _, still_written = target.kernel_scan(area.start, area.end, mask=written, return_mask=written)
        all_written = [
            (target.page(area, i), target.page(area, i + 1), written)
            for i in range(0, 2 * self.WRITTEN_PAGES, 2)
        ]
        assert still_written == [r for r in all_written if r not in expected], "re-protected what it reported"

    def test_refused_scan_protects_nothing(self, http: httpx.Client, target: Target) -> None:
        area = target.anon("tracked", 8)
        target.uffd_wp(area)
        target.write(area, 0, 4, 2)
        written = int(Category.WRITTEN)
        before = target.kernel_scan(area.start, area.end, mask=written, return_mask=written)[1]
        body = {
            "pid": target.pid,
            "start": area.start,
            "end": area.end,
            "flags": ["WP_MATCHING"],
            "category_mask": written,
            "max_pages": JSON_MAX_REGIONS + 1,
        }
        assert http.post("/scan", json=body, headers={"Accept": "application/json"}).status_code == 413
        assert target.kernel_scan(area.start, area.end, mask=written, return_mask=written)[1] == before
        assert len(before) == 4


@pytest.fixture(scope="class")
def slow_server() -> Iterator[ServerProcess]:
    # 4 regions per kernel call: a 262,000-region scan needs 65,000 calls, far beyond 50 ms.
    with ServerProcess(auth="off", scan_timeout_seconds=0.05, chunk_records=4) as running:
        yield running


class TestScanTimeLimit:
    @pytest.mark.parametrize(("path", "accept"), [("/summary", None), ("/scan", "application/json")])
    def test_whole_answers_get_504(
        self, slow_server: ServerProcess, big: subprocess.Popen[bytes], path: str, accept: str | None
    ) -> None:
        with slow_server.client() as http:
            headers = {"Accept": accept} if accept else {}
            response = http.post(path, json={"pid": big.pid}, headers=headers)
            assert response.status_code == 504
            assert response.json()["detail"]["code"] == "ETIMEDOUT"
            assert metric(http, "pmscan_scan_workers_busy") == 0

    def test_streams_end_with_the_error_line(
        self, slow_server: ServerProcess, big: subprocess.Popen[bytes]
    ) -> None:
        with slow_server.client() as http:
            response = http.post("/scan", json={"pid": big.pid})
            assert response.status_code == 200
            last = json.loads(response.text.splitlines()[-1])
            assert last["error"]["code"] == "ETIMEDOUT"
            response = http.post(
                "/scan", json={"pid": big.pid}, headers={"Accept": "application/octet-stream"}
            )
            assert RECORD.unpack(response.content[-RECORD.size :]) == ((1 << 64) - 2, errno.ETIMEDOUT, 0)


class TestGracefulShutdown:
    GRACE = 2

    def test_sigterm_mid_stream(self, big: subprocess.Popen[bytes]) -> None:
        with ServerProcess(auth="off", shutdown_grace_seconds=self.GRACE) as server:
            process = server.process
            assert process is not None
            with server.client() as http, http.stream("POST", "/scan", json={"pid": big.pid}) as response:
                assert response.status_code == 200
                chunks = response.iter_bytes()
                received = [next(chunks)]
                process.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                for chunk in chunks:  # a slow reader at first: the stream outlives half the grace period
                    received.append(chunk)
                    if time.monotonic() - signalled < self.GRACE / 2 + 0.5:
                        time.sleep(0.02)
            exit_status = process.wait(timeout=self.GRACE + 5)
            stopped_after = time.monotonic() - signalled
        body = b"".join(received)
        assert body.endswith(b"\n")
        *regions, last = [json.loads(line) for line in body.splitlines()]
        assert all(set(region) == {"start", "end", "categories"} for region in regions)
        assert last.get("error", {}).get("code") == "ESHUTDOWN" or set(last) == {
            "walk_end",
            "regions",
            "pages",
        }
        assert "error" in last, "the stream was expected to outlive half the grace period"
        assert stopped_after < self.GRACE + 1.5
        assert exit_status in (0, -signal.SIGTERM)
