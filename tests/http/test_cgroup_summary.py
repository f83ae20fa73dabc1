"""POST /summary with ``cgroup``: one summary per member process and their sum, against the
single-process summaries, /proc/PID/cgroup and /proc/PID/maps."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cgroups import CgroupUnavailableError, TemporaryCgroup
from tests.support.children import sleepers


@pytest.fixture
def cgroup() -> Iterator[TemporaryCgroup]:
    try:
        with TemporaryCgroup() as created:
            yield created
    except CgroupUnavailableError as e:
        pytest.skip(str(e))


@pytest.fixture
def members(cgroup: TemporaryCgroup) -> Iterator[list[int]]:
    """Two sleepers in the cgroup, and one in its child ``sub``."""
    cgroup.make("sub")
    with sleepers(3) as processes:
        for process in processes[:2]:
            cgroup.add(process.pid)
        cgroup.add(processes[2].pid, "sub")
        yield [p.pid for p in processes]


def summary(http: httpx.Client, **body: Any) -> dict[str, Any]:
    response = http.post("/summary", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def mapped_pages(pid: int, limit: int) -> int:
    """Pages of the mappings a scan walks, from /proc/PID/smaps: those below the user
    address-space limit (not ``[vsyscall]``), and not ``VM_PFNMAP`` (``pf`` in VmFlags, as
    ``[vvar]``), which PAGEMAP_SCAN skips."""
    page_size = os.sysconf("SC_PAGE_SIZE")
    total, size = 0, 0
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        first = line.split(maxsplit=1)[0]
        if "-" in first and not first.endswith(":"):
            start, end = (int(x, 16) for x in first.split("-"))
            size = (end - start) // page_size if end <= limit else 0
        elif first == "VmFlags:" and "pf" not in line.split()[1:]:
            total += size
    return total


class TestCgroupSummary:
    def test_members_and_their_sum(
        self, http: httpx.Client, cgroup: TemporaryCgroup, members: list[int]
    ) -> None:
        result = summary(http, cgroup=cgroup.spec())
        assert result["cgroup"] == cgroup.spec()
        assert result["skipped"] == []
        assert [p["pid"] for p in result["processes"]] == sorted(members)
        limit = http.get("/capabilities").json()["user_address_limit"]
        totals: dict[str, int] = {}
        for process in result["processes"]:
            alone = summary(http, pid=process["pid"])
            assert process == alone  # idle sleepers: the same state twice
            assert process["pages"] == mapped_pages(process["pid"], limit)
            for name, pages in process["categories"].items():
                totals[name] = totals.get(name, 0) + pages
        assert result["pages"] == sum(p["pages"] for p in result["processes"])
        assert result["categories"] == totals
        assert list(result["categories"]) == [
            c for c in http.get("/capabilities").json()["categories"] if c in totals
        ]

    def test_a_descendant_alone(
        self, http: httpx.Client, cgroup: TemporaryCgroup, members: list[int]
    ) -> None:
        result = summary(http, cgroup=cgroup.spec("sub"))
        assert [p["pid"] for p in result["processes"]] == [members[2]]
        assert result["pages"] == result["processes"][0]["pages"]

    def test_by_vma_and_range_apply_to_each(
        self, http: httpx.Client, cgroup: TemporaryCgroup, members: list[int]
    ) -> None:
        result = summary(http, cgroup=cgroup.spec(), by_vma=True, category_mask=["PRESENT"])
        for process in result["processes"]:
            assert process["vmas"]
            assert set(process["categories"]) <= {
                "PRESENT",
                "WRITTEN",
                "FILE",
                "PFNZERO",
                "HUGE",
                "SOFT_DIRTY",
                "WPALLOWED",
                "SWAPPED",
                "GUARD",
            }
            assert process["categories"]["PRESENT"] == process["pages"]
            assert sum(v["pages"] for v in process["vmas"]) == process["pages"]

    def test_exited_member_is_skipped(
        self, http: httpx.Client, cgroup: TemporaryCgroup, members: list[int]
    ) -> None:
        zombie = subprocess.Popen(["sleep", "1000"])
        try:
            cgroup.add(zombie.pid)
            zombie.kill()
            while Path(f"/proc/{zombie.pid}/stat").read_text().rpartition(") ")[2][0] != "Z":
                time.sleep(0.01)
            assert f"0::{cgroup.spec()}" in Path(f"/proc/{zombie.pid}/cgroup").read_text().splitlines()
            result = summary(http, cgroup=cgroup.spec())
        finally:
            zombie.wait()
        assert [p["pid"] for p in result["processes"]] == sorted(members)
        (skipped,) = result["skipped"]
        assert (skipped["pid"], skipped["code"]) == (zombie.pid, "EXITED")
        assert str(zombie.pid) in skipped["reason"]

    def test_empty_cgroup(self, http: httpx.Client, cgroup: TemporaryCgroup) -> None:
        assert summary(http, cgroup=cgroup.spec()) == {
            "cgroup": cgroup.spec(),
            "processes": [],
            "skipped": [],
            "pages": 0,
            "categories": {},
        }


class TestRequest:
    @pytest.mark.parametrize("body", [{}, {"pid": 1, "cgroup": "/"}, {"pid": None, "cgroup": None}])
    def test_exactly_one_of_pid_and_cgroup(self, http: httpx.Client, body: dict[str, Any]) -> None:
        response = http.post("/summary", json=body)
        assert response.status_code == 422
        (error,) = response.json()["detail"]
        assert "pid" in error["msg"] and "cgroup" in error["msg"]

    def test_unknown_cgroup(self, http: httpx.Client) -> None:
        response = http.post("/summary", json={"cgroup": "/pmscan-test-no-such-cgroup"})
        assert response.status_code == 404
        assert response.json()["detail"]["code"] == "ENOENT"

    def test_invalid_cgroup_names_the_field(self, http: httpx.Client) -> None:
        response = http.post("/summary", json={"cgroup": "/a/../b"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "cgroup"]
