"""POST /watch against a real server and real targets: the schedule, the limit, the write-watch
of a userfaultfd-WP-async range (ground truth: the pages the target says it wrote), workers
between ticks, the metrics, the audit line, and how a watch ends (trailer, EXITED, client gone,
ESHUTDOWN)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.children import many_regions
from tests.support.metrics import metric, until
from tests.support.server import ServerProcess
from tests.support.target import Target

Line = dict[str, Any]
WATCH_MAX_SECONDS = 60
WATCHES_ANSWERED = {"route": "/watch", "method": "POST", "status": "200"}


@pytest.fixture(scope="module")
def audit_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit") / "audit.log"


@pytest.fixture(scope="module")
def server(audit_file: Path) -> Iterator[ServerProcess]:
    # One worker, no queue: a watch that held its worker between ticks would make every
    # other request meanwhile a 503.
    with ServerProcess(
        auth="off", audit_log=audit_file, watch_max_seconds=WATCH_MAX_SECONDS, workers=1, queue_limit=0
    ) as running:
        yield running


def watch_lines(http: httpx.Client, body: dict[str, Any]) -> list[Line]:
    response = http.post("/watch", json=body, timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    return [json.loads(line) for line in response.text.splitlines()]


def audit_lines(path: Path) -> list[Line]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class TestSchedule:
    def test_ticks_then_the_trailer(self, http: httpx.Client, target: Target) -> None:
        *ticks, trailer = watch_lines(http, {"pid": target.pid, "interval_seconds": 0.2, "count": 4})
        assert trailer == {"ticks": 4}
        assert [t["tick"] for t in ticks] == [0, 1, 2, 3]
        assert all(set(t) == {"tick", "time", "late", "pages", "categories"} for t in ticks)
        assert not any(t["late"] for t in ticks)
        times = [t["time"] for t in ticks]
        assert times == sorted(times)

    def test_counts_are_the_summary_of_the_moment(self, http: httpx.Client, target: Target) -> None:
        area = target.anon("a", 64)
        target.write(area, 0, 5)
        target.read(area, 10, 3)
        body = {"pid": target.pid, "start": area.start, "end": area.end}
        *ticks, _ = watch_lines(http, {**body, "interval_seconds": 0.05, "count": 2})
        summary = http.post("/summary", json=body).json()
        for tick in ticks:
            assert (tick["pages"], tick["categories"]) == (summary["pages"], summary["categories"])
        assert ticks[0]["categories"]["PRESENT"] == 8
        assert ticks[0]["categories"]["PFNZERO"] == 3

    def test_an_overrunning_tick_is_late_not_merged(self, http: httpx.Client) -> None:
        # Each scan of ~262,000 regions takes far longer than a millisecond.
        with many_regions() as big:
            *ticks, trailer = watch_lines(http, {"pid": big.pid, "interval_seconds": 0.001, "count": 3})
        assert trailer == {"ticks": 3}
        assert [t["tick"] for t in ticks] == [0, 1, 2]
        assert all(t["late"] for t in ticks)
        assert len({t["pages"] for t in ticks}) == 1  # each tick is one whole scan, none merged


class TestLimits:
    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"interval_seconds": 1, "count": WATCH_MAX_SECONDS + 1}, "count"),
            ({"interval_seconds": 0, "count": 1}, "interval_seconds"),
            ({"interval_seconds": -1, "count": 1}, "interval_seconds"),
            ({"interval_seconds": "1", "count": 1}, "interval_seconds"),
            ({"interval_seconds": 1, "count": 0}, "count"),
            ({"interval_seconds": 1, "count": True}, "count"),
            ({"interval_seconds": 1}, "count"),
            ({"count": 1}, "interval_seconds"),
            ({"interval_seconds": 1, "count": 1, "every": 2}, "every"),
        ],
    )
    def test_bad_schedules_are_422_naming_the_field(
        self, http: httpx.Client, target: Target, fields: dict[str, Any], field: str
    ) -> None:
        response = http.post("/watch", json={"pid": target.pid, **fields})
        assert response.status_code == 422, response.text
        assert [error["loc"][-1] for error in response.json()["detail"]] == [field]

    def test_the_limit_names_the_setting(self, http: httpx.Client, target: Target) -> None:
        response = http.post("/watch", json={"pid": target.pid, "interval_seconds": 0.5, "count": 121})
        assert response.status_code == 422
        (error,) = response.json()["detail"]
        assert "PMSCAN_WATCH_MAX_SECONDS" in error["msg"]
        assert http.post("/watch", json={"pid": target.pid, "interval_seconds": 0.001, "count": 1}).is_success

    def test_ndjson_only(self, http: httpx.Client, target: Target) -> None:
        body = {"pid": target.pid, "interval_seconds": 0.01, "count": 1}
        assert http.post("/watch", json=body, headers={"Accept": "application/json"}).status_code == 406
        assert http.post("/watch", json=body, headers={"Accept": "*/*"}).status_code == 200

    def test_no_such_process_before_the_stream(self, http: httpx.Client) -> None:
        errors = metric(http, "pmscan_scan_errors_total", code="ESRCH")
        response = http.post("/watch", json={"pid": (1 << 22) + 1, "interval_seconds": 1, "count": 2})
        assert response.status_code == 404
        assert response.json()["detail"]["code"] == "ESRCH"
        assert metric(http, "pmscan_scan_errors_total", code="ESRCH") == errors + 1  # a scan that failed


class TestWriteWatch:
    """WP_MATCHING + WRITTEN over a userfaultfd-WP-async range: each tick counts exactly the
    pages written since the previous one, as the target itself reports writing them."""

    PAGES = 512
    WRITES = (37, 1, 0, 200, 512)

    def test_each_tick_counts_the_pages_written_since_the_last(
        self, server: ServerProcess, target: Target
    ) -> None:
        area = target.anon("watched", self.PAGES)
        target.uffd_wp(area)
        body = {
            "pid": target.pid,
            "start": area.start,
            "end": area.end,
            "flags": ["WP_MATCHING"],
            "category_mask": ["WRITTEN"],
            "return_mask": ["WRITTEN"],
            "interval_seconds": 1.0,
            "count": len(self.WRITES) + 1,
        }
        written: list[int] = [0]  # nothing was written before the first tick
        ticks: list[Line] = []
        with server.client() as http, http.stream("POST", "/watch", json=body) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                ticks.append(json.loads(line))
                if len(written) <= len(self.WRITES):
                    # Between this tick and the next (a second away), the target writes.
                    pages = target.scatter(area, self.WRITES[len(written) - 1], seed=len(written))
                    written.append(len(set(pages)))
        *ticks, trailer = ticks
        assert trailer == {"ticks": len(self.WRITES) + 1}
        assert not any(t["late"] for t in ticks)
        assert [t["pages"] for t in ticks] == written
        assert [t["categories"].get("WRITTEN", 0) for t in ticks] == written

    def test_needs_no_write_protection_without_wp_matching(self, http: httpx.Client, target: Target) -> None:
        """Without WP_MATCHING a tick only reads: the written pages stay written."""
        area = target.anon("watched", 16)
        target.uffd_wp(area)
        target.write(area, 3, 2)
        body = {"pid": target.pid, "start": area.start, "end": area.end, "category_mask": ["WRITTEN"]}
        *ticks, _ = watch_lines(http, {**body, "interval_seconds": 0.05, "count": 3})
        assert [t["pages"] for t in ticks] == [2, 2, 2]

    def test_soft_dirty_counts_like_the_summary(
        self, http: httpx.Client, target: Target, soft_dirty_works: bool
    ) -> None:
        if not soft_dirty_works:
            pytest.skip(
                "this kernel lacks CONFIG_MEM_SOFT_DIRTY (soft-dirty bits never clear); and a "
                "count-then-clear soft-dirty watch is not offered at all: pages written between the "
                "count and the write to clear_refs would be lost, so it could not be exact"
            )
        area = target.anon("a", 32)
        target.write(area, 0, 32)
        target.clear_soft_dirty()
        target.write(area, 4, 6)
        body = {"pid": target.pid, "start": area.start, "end": area.end, "category_mask": ["SOFT_DIRTY"]}
        *ticks, _ = watch_lines(http, {**body, "interval_seconds": 0.05, "count": 2})
        assert [t["pages"] for t in ticks] == [6, 6]


class TestWorkers:
    def test_no_worker_is_held_between_ticks(
        self, server: ServerProcess, target: Target, audit_file: Path
    ) -> None:
        body = {"pid": target.pid, "interval_seconds": 30, "count": 2}
        audited = len(audit_lines(audit_file))
        with server.client() as http:
            before = metric(http, "pmscan_scan_duration_seconds_count", backend="ioctl", format="watch")
            finished = metric(http, "pmscan_http_requests_total", **WATCHES_ANSWERED)
            with server.client() as watcher, watcher.stream("POST", "/watch", json=body) as response:
                lines = response.iter_lines()
                assert json.loads(next(lines))["tick"] == 0
                # The server's only worker is free: a scan meanwhile is answered, not refused.
                assert metric(http, "pmscan_scan_workers_busy") == 0
                assert http.post("/summary", json={"pid": target.pid}).status_code == 200
            # The client hung up: the watch ends now, not at its next tick 30 s away.
            until(
                lambda: metric(http, "pmscan_http_requests_total", **WATCHES_ANSWERED) == finished + 1,
                "the watch ends when its client hangs up",
            )
            after = metric(http, "pmscan_scan_duration_seconds_count", backend="ioctl", format="watch")
            assert after == before + 1  # one tick, counted like a scan
            assert metric(http, "pmscan_scan_workers_busy") == 0
        (watch,) = [line for line in audit_lines(audit_file)[audited:] if line["action"] == "watch"]
        assert (watch["ticks"], watch["outcome"]) == (1, "client_disconnected")

    def test_every_tick_counts_in_the_metrics(self, http: httpx.Client, target: Target) -> None:
        before = metric(http, "pmscan_scan_duration_seconds_count", backend="ioctl", format="watch")
        watch_lines(http, {"pid": target.pid, "interval_seconds": 0.05, "count": 5})
        after = metric(http, "pmscan_scan_duration_seconds_count", backend="ioctl", format="watch")
        assert after == before + 5


class TestEnds:
    def test_exited_when_the_target_ends(self, server: ServerProcess, target: Target) -> None:
        body = {"pid": target.pid, "interval_seconds": 0.2, "count": 50}
        with server.client() as http, http.stream("POST", "/watch", json=body) as response:
            lines = response.iter_lines()
            assert json.loads(next(lines))["tick"] == 0
            target.exit(0)
            rest = [json.loads(line) for line in lines]
        assert rest[-1]["error"]["code"] == "EXITED"
        assert all("tick" in line for line in rest[:-1])

    def test_one_audit_line_per_watch(self, http: httpx.Client, target: Target, audit_file: Path) -> None:
        before = len(audit_lines(audit_file))
        watch_lines(http, {"pid": target.pid, "interval_seconds": 0.05, "count": 3})
        until(lambda: len(audit_lines(audit_file)) > before, "the audit line")
        (line,) = audit_lines(audit_file)[before:]
        assert line["action"] == "watch"
        assert line["pid"] == target.pid
        assert line["comm"] == "pmtarget"
        assert (line["ticks"], line["outcome"]) == (3, "ok")

    def test_eshutdown_on_sigterm(self, target: Target) -> None:
        grace = 2
        with ServerProcess(auth="off", shutdown_grace_seconds=grace) as server:
            process = server.process
            assert process is not None
            body = {"pid": target.pid, "interval_seconds": 0.1, "count": 1000}
            with server.client() as http, http.stream("POST", "/watch", json=body) as response:
                lines = response.iter_lines()
                assert json.loads(next(lines))["tick"] == 0
                process.send_signal(signal.SIGTERM)
                rest = [json.loads(line) for line in lines]
            assert process.wait(timeout=grace + 10) in (0, -signal.SIGTERM)
        assert rest[-1]["error"]["code"] == "ESHUTDOWN"
        assert all("tick" in line for line in rest[:-1])
