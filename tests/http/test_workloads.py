"""POST /summary and POST /watch by ``container_id`` or ``pod_uid``, against real pods
(tests/support/kubepods.py) with real processes: each process's summary against its own
single-process summary, the processes against the kernel's ``cgroup.procs``; processes that
come and go during a watch; and every bad input refused before any scan."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cgroups import CgroupUnavailableError
from tests.support.children import sleepers, stop
from tests.support.kubepods import KubePod, container_id
from tests.support.server import ServerProcess

Line = dict[str, Any]


@pytest.fixture(scope="module")
def audit_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit") / "audit.log"


@pytest.fixture(scope="module")
def server(audit_file: Path) -> Iterator[ServerProcess]:
    with ServerProcess(auth="off", audit_log=audit_file) as running:
        yield running


@pytest.fixture(params=["systemd", "cgroupfs"])
def pod(request: pytest.FixtureRequest) -> Iterator[tuple[KubePod, list[subprocess.Popen[bytes]]]]:
    """A pod of two containers: two sleepers in the first, one in the second."""
    try:
        made = KubePod(request.param, 2)
    except CgroupUnavailableError as e:
        pytest.skip(str(e))
    with made, sleepers(3) as children:
        made.add(children[0].pid, 0)
        made.add(children[1].pid, 0)
        made.add(children[2].pid, 1)
        yield made, children


def summary(http: httpx.Client, **body: Any) -> dict[str, Any]:
    response = http.post("/summary", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def kernel_pids(pod: KubePod, index: int) -> list[int]:
    """The processes of a container's cgroup, as the kernel lists them."""
    procs = pod.cgroup.directory(pod.container_path(pod.container_ids[index])) / "cgroup.procs"
    return sorted(int(pid) for pid in procs.read_text().split())


def scans(http: httpx.Client) -> float:
    """Scans the server has counted so far (every backend and format)."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(http.get("/metrics").text)
        for sample in family.samples
        if sample.name == "pmscan_scan_duration_seconds_count"
    )


class TestSummary:
    def test_a_pod(self, http: httpx.Client, pod: tuple[KubePod, list[subprocess.Popen[bytes]]]) -> None:
        made, _ = pod
        result = summary(http, pod_uid=made.uid)
        assert (result["pod_uid"], "container_id" in result) == (made.uid, False)
        assert result["containers"] == http.get("/containers", params={"pod_uid": made.uid}).json()
        assert [p["pid"] for p in result["processes"]] == sorted(kernel_pids(made, 0) + kernel_pids(made, 1))
        assert result["skipped"] == []
        totals: dict[str, int] = {}
        for process in result["processes"]:
            assert process == summary(http, pid=process["pid"])  # idle sleepers: the same twice
            for name, pages in process["categories"].items():
                totals[name] = totals.get(name, 0) + pages
        assert result["pages"] == sum(p["pages"] for p in result["processes"])
        assert result["categories"] == totals

    def test_a_container_by_a_prefix(
        self, http: httpx.Client, pod: tuple[KubePod, list[subprocess.Popen[bytes]]]
    ) -> None:
        made, _ = pod
        full = made.container_ids[0]
        result = summary(http, container_id=full[:12], by_vma=True)
        assert (result["container_id"], "pod_uid" in result) == (full, False)
        assert [c["container_id"] for c in result["containers"]] == [full]
        assert result["containers"][0]["cgroup"] == made.spec(0)
        assert [p["pid"] for p in result["processes"]] == kernel_pids(made, 0)
        assert all(p["vmas"] for p in result["processes"])
        # The same as the cgroup summary of the container's cgroup.
        by_cgroup = summary(http, cgroup=made.spec(0), by_vma=True)
        assert by_cgroup["processes"] == result["processes"]

    def test_a_process_that_exited_is_skipped(
        self, http: httpx.Client, pod: tuple[KubePod, list[subprocess.Popen[bytes]]]
    ) -> None:
        made, children = pod
        children[1].kill()
        while Path(f"/proc/{children[1].pid}/stat").read_text().rpartition(") ")[2][0] != "Z":
            time.sleep(0.01)
        result = summary(http, container_id=made.container_ids[0])
        assert [p["pid"] for p in result["processes"]] == [children[0].pid]
        if made.driver == "cgroupfs":
            # A v1 hierarchy shows an exiting task at its root: the zombie is no member any more.
            lines = Path(f"/proc/{children[1].pid}/cgroup").read_text().splitlines()
            assert [line.split(":", 2)[2] for line in lines if line.split(":")[1] == "memory"] == ["/"]
            assert result["skipped"] == []
        else:
            (skipped,) = result["skipped"]
            assert (skipped["pid"], skipped["code"]) == (children[1].pid, "EXITED")

    def test_one_audit_line_per_process(
        self, http: httpx.Client, pod: tuple[KubePod, list[subprocess.Popen[bytes]]], audit_file: Path
    ) -> None:
        made, children = pod
        before = len(audit_file.read_text().splitlines())
        summary(http, pod_uid=made.uid)
        for _ in range(100):  # the middleware writes it once the answer is out
            lines = [json.loads(line) for line in audit_file.read_text().splitlines()[before:]]
            if len(lines) >= 3:
                break
            time.sleep(0.02)
        assert sorted(line["pid"] for line in lines) == sorted(c.pid for c in children)
        assert {(line["action"], line["pod_uid"], line["outcome"]) for line in lines} == {
            ("summary", made.uid, "ok")
        }


class TestNotFound:
    @pytest.mark.parametrize(
        ("field", "value", "code"),
        [
            ("container_id", container_id(), "NO_SUCH_CONTAINER"),
            ("container_id", container_id()[:12], "NO_SUCH_CONTAINER"),
            ("pod_uid", str(uuid.uuid4()), "NO_SUCH_POD"),
        ],
    )
    @pytest.mark.parametrize("path", ["/summary", "/watch"])
    def test_unknown(self, http: httpx.Client, path: str, field: str, value: str, code: str) -> None:
        body: dict[str, Any] = {field: value}
        if path == "/watch":
            body |= {"interval_seconds": 1, "count": 2}
        response = http.post(path, json=body)
        assert response.status_code == 404, response.text
        detail = response.json()["detail"]
        assert detail["code"] == code
        assert detail["message"].startswith(f"{field}: ")

    def test_ambiguous(self, http: httpx.Client) -> None:
        prefix = uuid.uuid4().hex[:12]
        ids = [prefix + "a" + container_id()[:51], prefix + "b" + container_id()[:51]]
        try:
            made = KubePod("systemd", container_ids=ids)
        except CgroupUnavailableError as e:
            pytest.skip(str(e))
        with made, sleepers(2) as children:
            for index, child in enumerate(children):
                made.add(child.pid, index)
            for path, extra in (("/summary", {}), ("/watch", {"interval_seconds": 1, "count": 2})):
                response = http.post(path, json={"container_id": prefix, **extra})
                assert response.status_code == 422, response.text
                assert response.json()["detail"]["code"] == "AMBIGUOUS_ID"
            assert summary(http, container_id=ids[0][:13])["container_id"] == ids[0]


UID = "8e6c0f0a-3b1f-4b5e-9a44-2c1e9b0f6d11"
ID = "4f2d9c0b7a1e3d5f6a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"


class TestBadInput:
    """Refused with a 422 located at the field, before any scan (no 500, nothing counted)."""

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"container_id": "4f2d9c0b7a1"}, "container_id"),
            ({"container_id": ID.upper()}, "container_id"),
            ({"container_id": "z" * 64}, "container_id"),
            ({"container_id": ID + "0"}, "container_id"),
            ({"container_id": 123456789012}, "container_id"),
            ({"container_id": f"docker://{ID}"}, "container_id"),
            ({"pod_uid": "8e6c0f0a"}, "pod_uid"),
            ({"pod_uid": UID.replace("-", "_")}, "pod_uid"),
            ({"pod_uid": UID.upper()}, "pod_uid"),
            ({"pod_uid": ["8e6c0f0a-3b1f-4b5e-9a44-2c1e9b0f6d11"]}, "pod_uid"),
            ({"pid": 1, "pod_uid": UID}, "pod_uid"),
            ({"pid": 1, "container_id": ID}, "container_id"),
            ({"cgroup": "/", "container_id": ID}, "container_id"),
            ({"container_id": ID, "pod_uid": UID}, "pod_uid"),
            ({}, "pid"),
        ],
    )
    @pytest.mark.parametrize("path", ["/summary", "/watch"])
    def test_named(self, http: httpx.Client, path: str, body: dict[str, Any], field: str) -> None:
        if path == "/watch":
            if "cgroup" in body:
                field = "cgroup"  # /watch has no cgroup: an unknown field
            body = {**body, "interval_seconds": 1, "count": 2}
        before = scans(http)
        response = http.post(path, json=body)
        assert response.status_code == 422, response.text
        errors = response.json()["detail"]
        assert [e["loc"] for e in errors] == [["body", field]], errors
        assert scans(http) == before

    def test_the_message_says_what_to_give(self, http: httpx.Client) -> None:
        response = http.post("/summary", json={"pid": 1, "pod_uid": UID})
        (error,) = response.json()["detail"]
        assert error["msg"] == "give one of pid, cgroup, container_id or pod_uid, not pid and pod_uid"
        response = http.post("/watch", json={"interval_seconds": 1, "count": 1})
        (error,) = response.json()["detail"]
        assert error["msg"] == "pid, container_id or pod_uid is required (exactly one of them)"


def ticks_of(response: httpx.Response) -> Iterator[Line]:
    for line in response.iter_lines():
        if line:
            yield json.loads(line)


class TestWatch:
    def test_processes_come_and_go(
        self, http: httpx.Client, pod: tuple[KubePod, list[subprocess.Popen[bytes]]]
    ) -> None:
        """Each tick counts the processes the pod has at that tick; one that starts or exits
        between ticks neither fails nor hangs the watch, and a pod left empty has ticks of
        nothing."""
        made, children = pod
        body = {"pod_uid": made.uid, "interval_seconds": 0.5, "count": 5}
        seen: list[Line] = []
        with contextlib.ExitStack() as stack:
            response = stack.enter_context(http.stream("POST", "/watch", json=body, timeout=30))
            assert response.status_code == 200
            lines = ticks_of(response)
            seen.append(next(lines))  # 3 processes
            (newcomer,) = stack.enter_context(sleepers(1))
            made.add(newcomer.pid, 1)
            seen.append(next(lines))  # 4
            stop(children[0])
            seen.append(next(lines))  # 3
            for child in (*children, newcomer):
                stop(child)
            seen.append(next(lines))  # none left
            seen += list(lines)
        *ticks, trailer = seen
        assert trailer == {"ticks": 5}
        assert [(t["processes"], t["skipped"]) for t in ticks] == [(3, 0), (4, 0), (3, 0), (0, 0), (0, 0)]
        assert [t["pages"] > 0 for t in ticks] == [True, True, True, False, False]
        assert ticks[3]["categories"] == {}

    def test_a_tick_is_a_summary(
        self, http: httpx.Client, pod: tuple[KubePod, list[subprocess.Popen[bytes]]]
    ) -> None:
        made, _ = pod
        response = http.post(
            "/watch", json={"container_id": made.container_ids[1], "interval_seconds": 0.1, "count": 2}
        )
        assert response.status_code == 200, response.text
        first, second, trailer = (json.loads(line) for line in response.text.splitlines())
        expected = summary(http, container_id=made.container_ids[1])
        for tick in (first, second):
            assert (tick["processes"], tick["pages"], tick["categories"]) == (
                1,
                expected["pages"],
                expected["categories"],
            )
        assert trailer == {"ticks": 2}

    def test_the_pid_watch_is_unchanged(self, http: httpx.Client) -> None:
        with sleepers(1) as (child,):
            response = http.post("/watch", json={"pid": child.pid, "interval_seconds": 0.1, "count": 1})
        tick, _ = (json.loads(line) for line in response.text.splitlines())
        assert set(tick) == {"tick", "time", "late", "pages", "categories"}
