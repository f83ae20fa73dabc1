"""GET /metrics: Prometheus text that moves as requests and scans happen, on a real server."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.http.app import VERSION, create_app
from app.http.metrics import Metrics
from app.settings import Settings
from tests.support.children import sleepers
from tests.support.server import ServerProcess

WORKERS = 3
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess(auth="off", workers=WORKERS, max_body_bytes=1024) as running:
        yield running


@pytest.fixture(scope="module")
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    with sleepers(1) as (process,):
        yield process


def scrape(http: httpx.Client) -> Samples:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def eventually(http: httpx.Client, check: Callable[[Samples], bool]) -> Samples:
    """Metrics are recorded when a response has been sent: allow the server a moment."""
    deadline = time.monotonic() + 5
    while True:
        samples = scrape(http)
        if check(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.02)


@pytest.fixture
def zombie() -> Iterator[int]:
    """A child that has exited and is not reaped yet: the access rules let it through (it
    still has credentials), the scan then fails with EXITED."""
    process = subprocess.Popen(["true"])
    deadline = time.monotonic() + 5
    while Path(f"/proc/{process.pid}/stat").read_text().split(") ")[1][0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    yield process.pid
    process.wait()


class TestExposition:
    def test_static_facts(self, http: httpx.Client) -> None:
        samples = scrape(http)
        assert value(samples, "pmscan_build_info", version=VERSION, kernel_release=os.uname().release) == 1
        assert value(samples, "pmscan_scan_workers") == WORKERS
        assert value(samples, "pmscan_scan_workers_busy") == 0
        assert value(samples, "pmscan_scan_queue_waiting") == 0
        categories = http.get("/capabilities").json()["categories"]
        supported = {
            dict(labels)["category"]: v
            for (name, labels), v in samples.items()
            if name == "pmscan_category_supported"
        }
        assert {c for c, v in supported.items() if v == 1} == set(categories)
        assert set(supported) >= set(categories)

    def test_names_follow_the_conventions(self, http: httpx.Client) -> None:
        families = list(text_string_to_metric_families(http.get("/metrics").text))
        ours = [f for f in families if f.name.startswith("pmscan_")]
        assert {f.name for f in ours} >= {
            "pmscan_http_requests",
            "pmscan_http_request_duration_seconds",
            "pmscan_scan_duration_seconds",
            "pmscan_scan_regions",
            "pmscan_scan_pages",
            "pmscan_scan_errors",
            "pmscan_scan_workers_busy",
            "pmscan_scan_workers",
            "pmscan_scan_queue_waiting",
            "pmscan_requests_rejected",
            "pmscan_build_info",
            "pmscan_category_supported",
        }
        for family in ours:
            if family.type == "counter":
                assert all(s.name.endswith("_total") for s in family.samples), family.name
        assert not [f.name for f in families if f.name.endswith("_created")]


class TestScansMoveTheCounters:
    def test_ndjson_scan(self, http: httpx.Client, sleeper: subprocess.Popen[bytes]) -> None:
        before = scrape(http)
        response = http.post("/scan", json={"pid": sleeper.pid})
        assert response.status_code == 200
        trailer = json.loads(response.text.splitlines()[-1])

        def counted(s: Samples) -> bool:
            return value(s, "pmscan_scan_duration_seconds_count", backend="ioctl", format="ndjson") > value(
                before, "pmscan_scan_duration_seconds_count", backend="ioctl", format="ndjson"
            )

        after = eventually(http, counted)
        assert counted(after)
        requests = {"route": "/scan", "method": "POST", "status": "200"}
        assert (
            value(after, "pmscan_http_requests_total", **requests)
            == value(before, "pmscan_http_requests_total", **requests) + 1
        )
        assert (
            value(after, "pmscan_scan_regions_total") - value(before, "pmscan_scan_regions_total")
            == trailer["regions"]
        )
        assert (
            value(after, "pmscan_scan_pages_total") - value(before, "pmscan_scan_pages_total")
            == trailer["pages"]
        )
        assert value(
            after, "pmscan_http_request_duration_seconds_count", route="/scan", method="POST"
        ) > value(before, "pmscan_http_request_duration_seconds_count", route="/scan", method="POST")

    @pytest.mark.parametrize(
        ("path", "accept", "fmt"),
        [
            ("/scan", "application/json", "json"),
            ("/scan", "application/octet-stream", "binary"),
            ("/summary", "", "summary"),
        ],
    )
    def test_format_label(
        self, http: httpx.Client, sleeper: subprocess.Popen[bytes], path: str, accept: str, fmt: str
    ) -> None:
        labels = {"backend": "ioctl", "format": fmt}
        before = value(scrape(http), "pmscan_scan_duration_seconds_count", **labels)
        headers = {"Accept": accept} if accept else {}
        assert http.post(path, json={"pid": sleeper.pid}, headers=headers).status_code == 200
        after = eventually(http, lambda s: value(s, "pmscan_scan_duration_seconds_count", **labels) > before)
        assert value(after, "pmscan_scan_duration_seconds_count", **labels) == before + 1

    def test_errors_by_code(self, http: httpx.Client, zombie: int) -> None:
        before = scrape(http)
        response = http.post("/scan", json={"pid": zombie})
        assert response.status_code == 410
        assert response.json()["detail"]["code"] == "EXITED"
        errors = {"code": "EXITED"}
        after = eventually(
            http,
            lambda s: (
                value(s, "pmscan_scan_errors_total", **errors)
                > value(before, "pmscan_scan_errors_total", **errors)
            ),
        )
        assert (
            value(after, "pmscan_scan_errors_total", **errors)
            == value(before, "pmscan_scan_errors_total", **errors) + 1
        )
        labels = {"route": "/scan", "method": "POST", "status": "410"}
        assert (
            value(after, "pmscan_http_requests_total", **labels)
            == value(before, "pmscan_http_requests_total", **labels) + 1
        )

    def test_too_large_body_is_a_rejection(self, http: httpx.Client) -> None:
        before = value(scrape(http), "pmscan_requests_rejected_total", reason="too_large")
        response = http.post("/summary", content=b'{"pid": 1' + b" " * 2048 + b"}")
        assert response.status_code == 413
        after = eventually(
            http, lambda s: value(s, "pmscan_requests_rejected_total", reason="too_large") > before
        )
        assert value(after, "pmscan_requests_rejected_total", reason="too_large") == before + 1
        # Refused before routing, and still counted under its route's template.
        assert value(after, "pmscan_http_requests_total", route="/summary", method="POST", status="413") >= 1


class TestLabels:
    def test_route_templates_never_pids(self, http: httpx.Client, sleeper: subprocess.Popen[bytes]) -> None:
        assert http.get(f"/processes/{sleeper.pid}/maps").status_code == 200
        assert http.get("/processes/999999999999/maps").status_code == 422
        assert http.get("/no/such/path").status_code == 404
        samples = eventually(
            http,
            lambda s: (
                value(s, "pmscan_http_requests_total", route="unmatched", method="GET", status="404") >= 1
            ),
        )
        assert value(
            samples, "pmscan_http_requests_total", route="/processes/{pid}/maps", method="GET", status="200"
        )
        assert value(
            samples, "pmscan_http_requests_total", route="/processes/{pid}/maps", method="GET", status="422"
        )
        label_values = {v for (_, labels) in samples for _, v in labels}
        assert str(sleeper.pid) not in label_values
        assert "sleep" not in label_values
        assert not {k for (_, labels) in samples for k, _ in labels} & {"pid", "comm", "path"}


class TestRegistry:
    def test_every_app_has_its_own(self) -> None:
        first, second = Metrics(), Metrics()
        first.scan_pages.inc(5)
        assert first.registry is not second.registry
        assert b"pmscan_scan_pages_total 5.0" in first.render()
        assert b"pmscan_scan_pages_total 0.0" in second.render()
        create_app(Settings(auth="off"))
        create_app(Settings(auth="off"))  # no "Duplicated timeseries" from a shared registry
