"""One server, many mixed requests: nothing it holds may grow.

Scans in the three formats (whole ranges and pages of them), summaries, mappings, process lists,
capabilities, metrics, and the errors clients cause (no such process, a kernel thread, invalid
bodies, a format nobody offers), from a few clients at once over keep-alive connections. Every
answer is checked (status, and completeness for streams). Before and after the load, once the
connections are closed: the server's open descriptors, threads and RSS, and no descriptor that
belongs to a scan (a pidfd, a ``/proc/N`` directory, a pagemap or maps file) still open.
"""

from __future__ import annotations

import itertools
import json
import struct
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.stress.marks import full_run_only
from tests.support.layout import Layout
from tests.support.resources import Resources, settled
from tests.support.server import ServerProcess

CLIENTS = 4
WARM_UP = 400
RECORD = struct.Struct("<QQQ")
TRAILER_MARK = (1 << 64) - 1
NDJSON, JSON, BINARY = "application/x-ndjson", "application/json", "application/octet-stream"
#: Growth allowed over the whole load: the allocator keeps some freed memory for reuse.
RSS_SLACK_KIB = 6 * 1024


@dataclass(frozen=True)
class Kind:
    """One kind of request and the status it must get."""

    name: str
    method: str
    path: str
    status: int
    body: Any = None
    accept: str | None = None
    raw: bytes | None = None


def _ndjson_complete(response: httpx.Response) -> None:
    *regions, trailer = [json.loads(line) for line in response.text.splitlines()]
    assert set(trailer) == {"walk_end", "regions", "pages"}, trailer
    assert trailer["regions"] == len(regions)


def _binary_complete(response: httpx.Response) -> None:
    *records, (mark, _, count) = RECORD.iter_unpack(response.content)
    assert mark == TRAILER_MARK and count == len(records)


def kinds(pid: int, area_start: int, area_end: int) -> list[Kind]:
    area = {"pid": pid, "start": area_start, "end": area_end}
    return [
        Kind("scan ndjson", "POST", "/scan", 200, {"pid": pid}),
        Kind("scan ndjson present", "POST", "/scan", 200, {**area, "category_mask": ["PRESENT"]}),
        Kind("scan ndjson page", "POST", "/scan", 200, {**area, "vec_len": 3}),
        Kind("scan json", "POST", "/scan", 200, {"pid": pid}, JSON),
        Kind("scan json page", "POST", "/scan", 200, {**area, "vec_len": 2, "max_pages": 40}, JSON),
        Kind("scan binary", "POST", "/scan", 200, {"pid": pid}, BINARY),
        Kind("scan binary anyof", "POST", "/scan", 200, {**area, "category_anyof_mask": 40}, BINARY),
        Kind("scan pagemap backend", "POST", "/scan", 200, {**area, "backend": "pagemap"}),
        Kind("summary", "POST", "/summary", 200, {"pid": pid}),
        Kind("summary by vma", "POST", "/summary", 200, {"pid": pid, "by_vma": True}),
        Kind("maps", "GET", f"/processes/{pid}/maps", 200),
        Kind("processes by comm", "GET", "/processes?comm=pmtarget", 200),
        Kind("capabilities", "GET", "/capabilities", 200),
        Kind("metrics", "GET", "/metrics", 200),
        Kind("unknown pid", "POST", "/scan", 404, {"pid": 4_194_305}),
        Kind("unknown pid maps", "GET", "/processes/4194305/maps", 404),
        Kind("kernel thread", "POST", "/summary", 404, {"pid": 2}),
        Kind("unaligned start", "POST", "/scan", 422, {"pid": pid, "start": 1}),
        Kind("unknown category", "POST", "/scan", 422, {"pid": pid, "category_mask": ["DIRTY"]}),
        Kind("not json", "POST", "/summary", 422, raw=b'{"pid": '),
        Kind("not acceptable", "POST", "/scan", 406, {"pid": pid}, "text/html"),
    ]


def send(http: httpx.Client, kind: Kind) -> None:
    headers = {"Accept": kind.accept} if kind.accept else {}
    if kind.raw is not None:
        headers["Content-Type"] = "application/json"
    response = http.request(kind.method, kind.path, json=kind.body, content=kind.raw, headers=headers or None)
    assert response.status_code == kind.status, f"{kind.name}: {response.status_code} {response.text[:300]}"
    if kind.status == 200 and kind.path == "/scan":
        if kind.accept == BINARY:
            _binary_complete(response)
        elif kind.accept != JSON:
            _ndjson_complete(response)


def load(server: ServerProcess, requests: list[Kind]) -> Counter[str]:
    """Send ``requests`` from ``CLIENTS`` keep-alive clients at once; every answer checked."""
    shares = [requests[i::CLIENTS] for i in range(CLIENTS)]

    def client(share: list[Kind]) -> Counter[str]:
        sent: Counter[str] = Counter()
        with server.client() as http:
            for kind in share:
                send(http, kind)
                sent[kind.name] += 1
        return sent

    with ThreadPoolExecutor(CLIENTS) as clients:
        return sum(clients.map(client, shares), Counter())


def soak(server: ServerProcess, layout: Layout, count: int) -> dict[str, Any]:
    mix = kinds(layout.pid, layout.mixed.start, layout.mixed.end)

    def requests(n: int) -> list[Kind]:
        return list(itertools.islice(itertools.cycle(mix), n))

    load(server, requests(WARM_UP))  # every worker thread started, every lazy import done
    before = settled(server.pid, fds=0, timeout=1)
    started = time.monotonic()
    sent = load(server, requests(count))
    seconds = time.monotonic() - started
    after = settled(server.pid, fds=len(before.fds))
    return {
        "requests": sum(sent.values()),
        "seconds": seconds,
        "before": before,
        "after": after,
        "sent": sent,
    }


def check(result: dict[str, Any]) -> None:
    before: Resources = result["before"]
    after: Resources = result["after"]
    assert not after.scan_handles, f"scan descriptors left open: {after.scan_handles}"
    assert len(after.fds) <= len(before.fds), f"descriptors: {before.fds} -> {after.fds}"
    assert after.threads <= before.threads
    assert after.rss_kib - before.rss_kib <= RSS_SLACK_KIB, f"{before.describe()} -> {after.describe()}"


def summary(result: dict[str, Any]) -> dict[str, Any]:
    before: Resources = result["before"]
    after: Resources = result["after"]
    return {
        "requests": result["requests"],
        "requests_per_second": round(result["requests"] / result["seconds"]),
        "before": {"fds": len(before.fds), "threads": before.threads, "rss_kib": before.rss_kib},
        "after": {"fds": len(after.fds), "threads": after.threads, "rss_kib": after.rss_kib},
        "scan_handles_after": after.scan_handles,
        "kinds": len(result["sent"]),
    }


def test_short(server: ServerProcess, layout: Layout, stress_report: dict[str, Any]) -> None:
    result = soak(server, layout, 1_000)
    stress_report["soak_short"] = summary(result)
    check(result)


@pytest.mark.slow
@full_run_only
def test_full(server: ServerProcess, layout: Layout, stress_report: dict[str, Any]) -> None:
    result = soak(server, layout, 10_000)
    stress_report["soak"] = summary(result)
    check(result)
