"""POST /scan and /summary through a real uvicorn server, against the kernel's own answer
(made by the target on itself), /proc/PID/maps and smaps."""

from __future__ import annotations

import json
import os
import signal
import struct
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.pagemap import Category, ScanFlag
from tests.support.children import zombie
from tests.support.server import ServerProcess
from tests.support.target import Area, Target

ALL = int(sum(Category))
RECORD = struct.Struct("<QQQ")
TRAILER, ERROR = (1 << 64) - 1, (1 << 64) - 2


def mask_of(names: list[str]) -> int:
    return sum(Category[n].value for n in names)


def ndjson(http: httpx.Client, body: dict[str, Any]) -> tuple[list[tuple[int, int, int]], dict[str, Any]]:
    response = http.post("/scan", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    *lines, last = [json.loads(line) for line in response.text.splitlines()]
    return [(r["start"], r["end"], mask_of(r["categories"])) for r in lines], last


def binary(
    http: httpx.Client, body: dict[str, Any]
) -> tuple[list[tuple[int, int, int]], tuple[int, int, int]]:
    response = http.post("/scan", json=body, headers={"Accept": "application/octet-stream"})
    assert response.status_code == 200, response.text
    *records, last = list(RECORD.iter_unpack(response.content))
    return records, last


@pytest.fixture
def mixed(target: Target) -> Area:
    area = target.anon("mixed", 512)
    target.write(area, 0, 64)
    target.read(area, 64, 32)
    target.write(area, 100, 100, 2)
    target.guard(area, 300, 8)
    target.write(area, 400, 112)
    return area


class TestFormatsAgreeWithTheKernel:
    def test_ndjson(self, http: httpx.Client, target: Target, mixed: Area) -> None:
        _, expected = target.kernel_scan(mixed.start, mixed.end)
        regions, trailer = ndjson(http, {"pid": target.pid, "start": mixed.start, "end": mixed.end})
        assert regions == expected
        pages = sum(e - s for s, e, _ in expected) // target.page_size
        assert trailer == {"walk_end": mixed.end, "regions": len(expected), "pages": pages}

    def test_categories_are_names_in_bit_order(self, http: httpx.Client, target: Target, mixed: Area) -> None:
        response = http.post(
            "/scan", json={"pid": target.pid, "start": hex(mixed.start), "end": hex(mixed.end)}
        )
        first = json.loads(response.text.splitlines()[0])
        order = [c.name for c in Category]
        assert first["categories"] == sorted(first["categories"], key=order.index)
        assert "PRESENT" in first["categories"]

    def test_json_document(self, http: httpx.Client, target: Target, mixed: Area) -> None:
        _, expected = target.kernel_scan(mixed.start, mixed.end, mask=Category.PRESENT)
        response = http.post(
            "/scan",
            json={"pid": target.pid, "start": mixed.start, "end": mixed.end, "category_mask": ["present"]},
            headers={"Accept": "application/json"},
        )
        assert response.status_code == 200
        document = response.json()
        assert [(r["start"], r["end"], mask_of(r["categories"])) for r in document["regions"]] == expected
        assert document["pid"] == target.pid
        assert (document["start"], document["end"], document["walk_end"]) == (
            mixed.start,
            mixed.end,
            mixed.end,
        )
        assert document["pages"] == sum(e - s for s, e, _ in expected) // target.page_size

    def test_binary_records_and_trailer(self, http: httpx.Client, target: Target, mixed: Area) -> None:
        _, expected = target.kernel_scan(mixed.start, mixed.end, anyof=Category.PFNZERO | Category.GUARD)
        records, trailer = binary(
            http,
            {
                "pid": target.pid,
                "start": mixed.start,
                "end": mixed.end,
                "category_anyof_mask": int(Category.PFNZERO | Category.GUARD),
            },
        )
        assert records == expected
        assert trailer == (TRAILER, mixed.end, len(expected))

    def test_not_acceptable(self, http: httpx.Client, target: Target) -> None:
        response = http.post("/scan", json={"pid": target.pid}, headers={"Accept": "text/html"})
        assert response.status_code == 406
        assert response.json()["detail"]["code"] == "NOT_ACCEPTABLE"


class TestDefaultRange:
    def test_defaults_are_the_mapped_range_without_vsyscall(self, http: httpx.Client, target: Target) -> None:
        maps = Path(f"/proc/{target.pid}/maps").read_text().splitlines()
        ranges = [
            tuple(int(x, 16) for x in line.split()[0].split("-")) for line in maps if "[vsyscall]" not in line
        ]
        response = http.post(
            "/scan", json={"pid": target.pid, "vec_len": 1}, headers={"Accept": "application/json"}
        )
        document = response.json()
        assert document["start"] == min(s for s, _ in ranges)
        assert document["end"] == max(e for _, e in ranges)

    def test_unfiltered_scan_covers_the_mappings(self, http: httpx.Client, target: Target) -> None:
        """kernel-notes 4: unpopulated pages inside mappings are reported; gaps never are."""
        area = target.anon("holes", 64)
        target.write(area, 10)
        regions, _ = ndjson(http, {"pid": target.pid, "start": area.start, "end": area.end})
        assert (regions[0][0], regions[-1][1]) == (area.start, area.end)
        assert sum(e - s for s, e, _ in regions) == area.size


class TestPagination:
    def test_vec_len_pages_concatenate_to_the_whole_answer(
        self, http: httpx.Client, target: Target, mixed: Area
    ) -> None:
        _, expected = target.kernel_scan(mixed.start, mixed.end)
        collected: list[tuple[int, int, int]] = []
        position = mixed.start
        for _ in range(len(expected) + 2):
            regions, trailer = ndjson(
                http, {"pid": target.pid, "start": position, "end": mixed.end, "vec_len": 2}
            )
            assert len(regions) <= 2 and trailer["regions"] == len(regions)
            collected.extend(regions)
            position = trailer["walk_end"]
            if position == mixed.end:
                break
        assert collected == expected

    def test_max_pages(self, http: httpx.Client, target: Target, mixed: Area) -> None:
        _, expected = target.kernel_scan(mixed.start, mixed.end, mask=Category.PRESENT, max_pages=70)
        regions, trailer = ndjson(
            http,
            {
                "pid": target.pid,
                "start": mixed.start,
                "end": mixed.end,
                "category_mask": ["PRESENT"],
                "max_pages": 70,
            },
        )
        assert regions == expected
        assert trailer["pages"] == 70

    def test_large_sparse_range_is_complete(self, http: httpx.Client, target: Target) -> None:
        area = target.anon("big", 262144)
        target.write(area, 0, 131072, 2)
        records, trailer = binary(
            http, {"pid": target.pid, "start": area.start, "end": area.end, "category_mask": ["PRESENT"]}
        )
        assert len(records) == 131072
        assert records[0][0] == area.start and records[-1][1] == area.end - target.page_size
        assert trailer == (TRAILER, area.end, 131072), "a complete walk reports walk_end == end"


class TestWriteTracking:
    """The way the kernel series meant it: a process registers a range for async
    write-protection; the service reports its written pages and re-protects them."""

    def test_report_and_reset(self, http: httpx.Client, target: Target) -> None:
        area = target.anon("heap", 32)
        target.uffd_wp(area)
        target.write(area, 2, 3)
        body = {
            "pid": target.pid,
            "start": area.start,
            "end": area.end,
            "flags": ["WP_MATCHING"],
            "category_mask": ["WRITTEN"],
            "return_mask": ["WRITTEN"],
        }
        regions, _ = ndjson(http, body)
        assert regions == [(target.page(area, 2), target.page(area, 5), Category.WRITTEN)]
        assert ndjson(http, body)[0] == []
        target.write(area, 7)
        assert ndjson(http, body)[0] == [(target.page(area, 7), target.page(area, 8), Category.WRITTEN)]

    def test_check_wpasync_conflict(self, http: httpx.Client, target: Target) -> None:
        area = target.anon("plain", 4)
        target.write(area, 0, 4)
        response = http.post(
            "/scan",
            json={
                "pid": target.pid,
                "start": area.start,
                "end": area.end,
                "flags": int(ScanFlag.WP_MATCHING | ScanFlag.CHECK_WPASYNC),
                "category_mask": ["WRITTEN"],
            },
        )
        assert response.status_code == 409
        assert response.json()["detail"]["code"] == "EPERM"
        # Issue 18, item 9: what CHECK_WPASYNC met, not the kernel's bare "Operation not permitted".
        message = response.json()["detail"]["message"]
        assert "without async write-protection" in message and "userfaultfd" in message, message


class TestSummary:
    def test_counts_match_smaps(self, http: httpx.Client, target: Target) -> None:
        area = target.anon("counted", 256)
        target.write(area, 0, 100)
        target.read(area, 150, 20)
        response = http.post("/summary", json={"pid": target.pid, "start": area.start, "end": area.end})
        assert response.status_code == 200
        summary = response.json()
        present = summary["categories"]["PRESENT"] - summary["categories"].get("PFNZERO", 0)
        assert present * target.page_size == target.smaps(area)["Rss"], "kernel-notes 7b"
        assert summary["pages"] == 256
        assert summary["walk_end"] == area.end

    def test_by_vma_matches_maps(self, http: httpx.Client, target: Target) -> None:
        response = http.post(
            "/summary", json={"pid": target.pid, "by_vma": True, "category_mask": ["PRESENT"]}
        )
        summary = response.json()
        maps = {}
        for line in Path(f"/proc/{target.pid}/maps").read_text().splitlines():
            fields = line.split(maxsplit=5)
            start, end = (int(x, 16) for x in fields[0].split("-"))
            maps[start] = (end, fields[1], fields[5] if len(fields) > 5 else "")
        assert summary["vmas"], "a running process has present pages"
        for vma in summary["vmas"]:
            assert maps[vma["start"]] == (vma["end"], vma["perms"], vma["path"])
            assert vma["pages"] == vma["categories"]["PRESENT"]
        assert sum(v["pages"] for v in summary["vmas"]) == summary["pages"]


class TestProcessErrors:
    def test_unknown_pid(self, http: httpx.Client) -> None:
        response = http.post("/scan", json={"pid": 4_194_305})
        assert response.status_code == 404
        assert response.json()["detail"]["code"] == "ESRCH"

    def test_kernel_thread(self, http: httpx.Client) -> None:
        response = http.post("/scan", json={"pid": 2})
        assert response.status_code == 404
        assert "kernel thread" in response.json()["detail"]["message"]

    def test_zombie(self, http: httpx.Client) -> None:
        with zombie() as pid:
            response = http.post("/summary", json={"pid": pid})
        assert response.status_code == 410


@pytest.fixture(scope="class")
def small_chunks() -> Any:
    with ServerProcess(auth="off", chunk_records=16) as running:
        yield running


class TestExitMidStream:
    @pytest.mark.parametrize("accept", ["application/x-ndjson", "application/octet-stream"])
    def test_the_stream_ends_with_an_error_not_a_trailer(
        self, small_chunks: ServerProcess, target: Target, accept: str
    ) -> None:
        area = target.anon("big", 262144)
        target.write(area, 0, 131072, 2)
        body = {"pid": target.pid, "start": area.start, "end": area.end, "category_mask": ["PRESENT"]}
        with (
            small_chunks.client() as http,
            http.stream("POST", "/scan", json=body, headers={"Accept": accept}) as response,
        ):
            assert response.status_code == 200
            chunks = response.iter_raw()
            received = next(chunks)
            os.kill(target.pid, signal.SIGKILL)
            target._proc.wait()
            received += b"".join(chunks)
        if accept == "application/octet-stream":
            received = received[: len(received) // 24 * 24]
            last = RECORD.unpack_from(received, len(received) - 24)
            assert last[0] == ERROR and last[1] == 3  # ESRCH
        else:
            last_line = json.loads(received.splitlines()[-1])
            assert last_line["error"]["code"] == "EXITED"
