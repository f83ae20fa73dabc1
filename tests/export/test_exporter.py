"""The page-state exporter on a real server's /metrics: its numbers against POST /summary and
the kernel's own page counts, what it leaves out, its cache, its limits (busy workers, the
time budget), containers from real cgroups, and the configurations it refuses."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cgroups import CgroupUnavailableError
from tests.support.children import many_regions, named_sleep, sleepers
from tests.support.kubepods import DRIVERS, KubePod
from tests.support.metrics import metric
from tests.support.server import ServerProcess, server_executable
from tests.support.target import Target

CATEGORIES = ("present", "swapped", "huge", "pfnzero", "file")
PRESENT_BIT = 1 << 63


# ---- ground truth ----------------------------------------------------------------------------


def smaps_vmas(pid: int, limit: int) -> list[tuple[int, int, bool]]:
    """The mappings below the user address limit, from /proc/PID/smaps: (start, end, whether
    it is ``VM_PFNMAP``, ``pf``, which PAGEMAP_SCAN skips: ``[vvar]`` for one)."""
    vmas, current = [], None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        first = line.split(maxsplit=1)[0]
        if "-" in first and not first.endswith(":"):
            start, end = (int(x, 16) for x in first.split("-"))
            current = (start, end) if end <= limit else None
        elif first == "VmFlags:" and current is not None:
            vmas.append((*current, "pf" in line.split()[1:]))
    return vmas


def walked_vmas(pid: int, limit: int) -> list[tuple[int, int]]:
    """The mappings a scan walks: below the user address limit, and not ``VM_PFNMAP``."""
    return [(start, end) for start, end, pfnmap in smaps_vmas(pid, limit) if not pfnmap]


def present_pages(pid: int, limit: int) -> int:
    """Pages with bit 63 (present) in /proc/PID/pagemap, over the mappings a scan walks: the
    kernel's count, read from outside without disturbing the target."""
    page_size = os.sysconf("SC_PAGE_SIZE")
    present = 0
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for start, end in walked_vmas(pid, limit):
            pagemap.seek(start // page_size * 8)
            data = pagemap.read((end - start) // page_size * 8)
            present += sum(1 for (entry,) in struct.iter_unpack("=Q", data) if entry & PRESENT_BIT)
    return present


def _is_kernel_thread(pid: int) -> bool:
    """``PF_KTHREAD`` (0x00200000) in field 9 of /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(") ")[2].split()
    except OSError:
        return False
    return bool(int(fields[6]) & 0x00200000)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no Rss in smaps_rollup")


def series(http: httpx.Client, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of ``name`` in /metrics, by its sorted labels."""
    found = {}
    for family in text_string_to_metric_families(http.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = float(sample.value)
    return found


def exe_group(binary: Path) -> str:
    return re.escape(str(binary))


def set_up_layout(target: Target, tmp_path: Path) -> None:
    """Written anonymous pages, zero pages (read, never written), a THP area, a file."""
    area = target.anon("written", 256)
    target.write(area, 0, 100)
    zero = target.anon("zero", 64)
    target.read(zero, 0, 50)
    target.thp("thp", 4)
    file = target.file("file", tmp_path / f"file-{target.pid}", 32)
    target.write(file, 0, 16)


@pytest.fixture
def targets(target_binary: Path, tmp_path: Path) -> Iterator[list[Target]]:
    with Target(target_binary) as first, Target(target_binary) as second:
        set_up_layout(first, tmp_path)
        set_up_layout(second, tmp_path)
        yield [first, second]


@pytest.fixture
def group_server(target_binary: Path) -> Iterator[ServerProcess]:
    groups = {
        "targets": {"exe": exe_group(target_binary)},
        "nobody": {"comm": f"none-{uuid.uuid4().hex[:8]}"},
    }
    with ServerProcess(
        auth="off",
        export_groups=json.dumps(groups),
        export_categories=",".join(CATEGORIES),
        export_max_age_seconds=0,
    ) as running:
        yield running


class TestGroupsAgainstSummary:
    def test_the_numbers_of_post_summary(self, group_server: ServerProcess, targets: list[Target]) -> None:
        with group_server.client() as http:
            capabilities = http.get("/capabilities").json()
            page_size, limit = capabilities["page_size"], capabilities["user_address_limit"]
            memory = series(http, "pmscan_group_memory_bytes")
            processes = series(http, "pmscan_group_processes")
            mapped = series(http, "pmscan_group_mapped_bytes")
            summaries = [http.post("/summary", json={"pid": t.pid}).json() for t in targets]
        assert processes[(("group", "targets"),)] == 2
        # The mapped size is the mappings' (VmSize): what /summary walks (its pages) and the
        # VM_PFNMAP mappings that PAGEMAP_SCAN skips.
        vmas = [vma for t in targets for vma in smaps_vmas(t.pid, limit)]
        assert mapped[(("group", "targets"),)] == sum(end - start for start, end, _ in vmas)
        skipped = sum(end - start for start, end, pfnmap in vmas if pfnmap)
        assert mapped[(("group", "targets"),)] - skipped == sum(s["pages"] for s in summaries) * page_size
        for category in CATEGORIES:
            expected = sum(s["categories"].get(category.upper(), 0) for s in summaries) * page_size
            assert memory[(("category", category), ("group", "targets"))] == expected, category
        assert memory[(("category", "present"), ("group", "targets"))] > 0
        # A group without processes still has its series, at 0.
        assert processes[(("group", "nobody"),)] == 0
        assert all(memory[(("category", c), ("group", "nobody"))] == 0 for c in CATEGORIES)


class TestGroupsAgainstKernel:
    def test_present_is_the_kernels_count_and_rss(
        self, group_server: ServerProcess, targets: list[Target]
    ) -> None:
        with group_server.client() as http:
            capabilities = http.get("/capabilities").json()
            memory = series(http, "pmscan_group_memory_bytes")
        page_size, limit = capabilities["page_size"], capabilities["user_address_limit"]
        present = memory[(("category", "present"), ("group", "targets"))]
        zero = memory[(("category", "pfnzero"), ("group", "targets"))]
        assert present == sum(present_pages(t.pid, limit) for t in targets) * page_size
        # kernel-notes 7b: present pages but the zero page are what smaps_rollup calls Rss.
        assert present - zero == sum(rss_bytes(t.pid) for t in targets)
        assert zero >= 2 * 50 * page_size


class TestKeptFiles:
    """From the second collection on, a counted process's files are kept open (kernel-notes 22):
    its numbers still follow it, and the files close when it leaves."""

    def test_numbers_follow_the_processes_and_the_files_close_when_they_go(
        self, group_server: ServerProcess, targets: list[Target]
    ) -> None:
        with group_server.client() as http:
            page_size = http.get("/capabilities").json()["page_size"]

            def present_matches_summary(live: list[Target]) -> None:
                memory = series(http, "pmscan_group_memory_bytes")
                summaries = [http.post("/summary", json={"pid": t.pid}).json() for t in live]
                expected = sum(s["categories"].get("PRESENT", 0) for s in summaries) * page_size
                assert memory[(("category", "present"), ("group", "targets"))] == expected

            present_matches_summary(targets)
            assert metric(http, "pmscan_export_kept_processes") == 2
            grown = targets[0].anon("grown", 512)
            targets[0].write(grown, 0, 512)  # the second collection counts through kept files
            present_matches_summary(targets)
            assert metric(http, "pmscan_export_kept_processes") == 2
            descriptors = len(os.listdir(f"/proc/{group_server.pid}/fd"))
            targets[1].close()  # exits: the next collection leaves it out and closes its files
            present_matches_summary(targets[:1])
            assert metric(http, "pmscan_group_processes", group="targets") == 1
            assert metric(http, "pmscan_export_kept_processes") == 1
            assert len(os.listdir(f"/proc/{group_server.pid}/fd")) == descriptors - 2
            for reason in ("timeout", "busy", "denied", "error"):
                assert metric(http, "pmscan_export_errors_total", reason=reason) == 0


class TestRememberedPrograms:
    """A kept process is matched on the ``exe`` read when its files were opened, until those
    files say it runs another program (kernel-notes 22)."""

    def test_a_process_that_runs_a_new_program_is_matched_again(
        self, target_binary: Path, tmp_path: Path
    ) -> None:
        shell = tmp_path / "shell"  # a program of its own, that no other process runs
        shutil.copy2(os.path.realpath("/bin/sh"), shell)
        groups = {"shell": {"exe": exe_group(shell)}, "targets": {"exe": exe_group(target_binary)}}
        process = subprocess.Popen(
            [str(shell), "-c", 'echo ready && read line && exec "$0"', str(target_binary)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert process.stdin is not None and process.stdout is not None
        try:
            with (
                ServerProcess(
                    auth="off",
                    export_groups=json.dumps(groups),
                    export_categories="present",
                    export_max_age_seconds=0,
                ) as server,
                server.client() as http,
            ):
                limit = http.get("/capabilities").json()["user_address_limit"]
                assert process.stdout.readline() == b"ready\n"
                for _ in range(2):  # the first opens it, the second counts through its kept files
                    assert metric(http, "pmscan_group_processes", group="shell") == 1
                    assert metric(http, "pmscan_group_processes", group="targets") == 0
                    assert metric(http, "pmscan_export_kept_processes") == 1
                process.stdin.write(b"go\n")
                process.stdin.flush()
                assert json.loads(process.stdout.readline())["pid"] == process.pid  # pmtarget runs
                memory = series(http, "pmscan_group_memory_bytes")
                assert metric(http, "pmscan_group_processes", group="shell") == 0
                assert metric(http, "pmscan_group_processes", group="targets") == 1
                page_size = os.sysconf("SC_PAGE_SIZE")
                assert memory[(("category", "present"), ("group", "targets"))] == (
                    present_pages(process.pid, limit) * page_size
                )
                assert memory[(("category", "present"), ("group", "shell"))] == 0
                for reason in ("timeout", "busy", "denied", "error"):
                    assert metric(http, "pmscan_export_errors_total", reason=reason) == 0
        finally:
            process.kill()
            process.wait()
            process.stdin.close()
            process.stdout.close()


class TestLeftOut:
    def test_pmscan_itself_and_the_deny_list(self, target_binary: Path, target: Target) -> None:
        # Every pmscan-server of this worktree matches; the scraped one never counts itself.
        ours = f".*{re.escape(str(server_executable()))}.*"
        groups = {"pmscan": {"cmdline": ours}, "targets": {"exe": exe_group(target_binary)}}
        settings = {"export_groups": json.dumps(groups), "export_max_age_seconds": 0}
        with (
            ServerProcess(auth="off", deny_pids=f"[{target.pid}]", **settings) as first,
            first.client() as http,
        ):
            assert metric(http, "pmscan_group_processes", group="pmscan") == 0
            assert metric(http, "pmscan_group_processes", group="targets") == 0  # denied
            with ServerProcess(auth="off", **settings) as second:
                # The other server is one more process like any other.
                assert metric(http, "pmscan_group_processes", group="pmscan") == 1
                with second.client() as other:
                    assert metric(other, "pmscan_group_processes", group="targets") == 1
            for reason in ("timeout", "busy", "denied", "error"):
                assert metric(http, "pmscan_export_errors_total", reason=reason) == 0

    def test_kernel_threads(self) -> None:
        kernel_threads = [
            pid
            for pid in (int(name) for name in os.listdir("/proc") if name.isdigit())
            if _is_kernel_thread(pid)
        ]
        if not kernel_threads:
            pytest.skip("no kernel thread is visible in this pid namespace")
        groups = {"kernel": {"comm": "kthreadd|kworker.*|ksoftirqd.*|rcu_.*|migration.*"}}
        settings = {"export_groups": json.dumps(groups), "export_max_age_seconds": 0}
        with ServerProcess(auth="off", **settings) as server, server.client() as http:
            assert metric(http, "pmscan_group_processes", group="kernel") == 0
            assert metric(http, "pmscan_group_mapped_bytes", group="kernel") == 0
            for reason in ("timeout", "busy", "denied", "error"):
                assert metric(http, "pmscan_export_errors_total", reason=reason) == 0

    def test_processes_exiting_during_collections_are_no_errors(self, tmp_path: Path) -> None:
        """Short-lived processes of the group start and exit while scrapes run: some are
        counted, some are gone before their scan, none is an error."""
        with named_sleep(tmp_path) as binary:
            groups = {"churn": {"comm": binary.name}}
            with (
                ServerProcess(
                    auth="off", export_groups=json.dumps(groups), export_max_age_seconds=0
                ) as server,
                server.client() as http,
            ):
                stop = threading.Event()

                def churn() -> None:
                    while not stop.is_set():
                        subprocess.run([str(binary), "0.01"], check=True)

                threads = [threading.Thread(target=churn) for _ in range(4)]
                for thread in threads:
                    thread.start()
                try:
                    for _ in range(30):
                        assert http.get("/metrics").status_code == 200
                finally:
                    stop.set()
                    for thread in threads:
                        thread.join()
                assert metric(http, "pmscan_export_collections_total") >= 30
                for reason in ("timeout", "busy", "denied", "error"):
                    assert metric(http, "pmscan_export_errors_total", reason=reason) == 0, reason
                assert metric(http, "pmscan_export_incomplete") == 0


class TestCache:
    @pytest.mark.parametrize(("max_age", "collections"), [(0, 3), (3600, 1)])
    def test_max_age(self, target_binary: Path, max_age: int, collections: int) -> None:
        groups = {"targets": {"exe": exe_group(target_binary)}}
        with (
            ServerProcess(
                auth="off", export_groups=json.dumps(groups), export_max_age_seconds=max_age
            ) as server,
            server.client() as http,
        ):
            for _ in range(3):
                http.get("/metrics")
            # this read is a scrape too: with max_age 0 it collects once more
            assert metric(http, "pmscan_export_collections_total") == collections + (max_age == 0)


class TestLimits:
    """A scrape is answered even when the pool is taken: what could not be counted shows as
    ``busy`` or ``timeout``, and ``pmscan_export_incomplete`` is 1."""

    @pytest.fixture
    def slow_stream(self) -> Iterator[dict[str, Any]]:
        """A scan stream of ~262,000 regions that the client does not read: its scan worker stays
        taken between chunks (the only worker of the servers below)."""
        with many_regions() as process:
            yield {"pid": process.pid}

    def _hold_the_worker(self, http: httpx.Client, body: dict[str, Any]) -> httpx.Response:
        request = http.build_request("POST", "/scan", json=body, headers={"Accept": "application/x-ndjson"})
        response = http.send(request, stream=True)
        assert response.status_code == 200
        assert metric(http, "pmscan_scan_workers_busy") == 1
        return response

    @pytest.mark.parametrize(
        ("settings", "reason"),
        [
            ({"queue_limit": 0}, "busy"),  # refused at once: no queue
            ({"queue_limit": 8, "queue_seconds": 30, "export_budget_seconds": 0.5}, "timeout"),
        ],
    )
    def test_incomplete_when_no_worker_is_free(
        self,
        target: Target,
        target_binary: Path,
        slow_stream: dict[str, Any],
        settings: dict[str, Any],
        reason: str,
    ) -> None:
        groups = {"targets": {"exe": exe_group(target_binary)}}
        with (
            ServerProcess(
                auth="off", workers=1, export_groups=json.dumps(groups), export_max_age_seconds=0, **settings
            ) as server,
            server.client() as http,
        ):
            stream = self._hold_the_worker(http, slow_stream)
            try:
                assert metric(http, "pmscan_export_incomplete") == 1
                assert metric(http, "pmscan_export_errors_total", reason=reason) >= 1
            finally:
                stream.close()
            # the worker is free again: the next collection is complete
            http.get("/metrics")
            assert metric(http, "pmscan_export_incomplete") == 0
            assert metric(http, "pmscan_group_processes", group="targets") == 1


class TestSharesThePool:
    def test_requests_keep_their_workers_during_collections(self, tmp_path: Path) -> None:
        """Three workers, no queue, collections limited to one worker: summary requests made one
        at a time while collections of four large processes run back to back are never refused
        (with every worker taken by the collection, some would be: 503)."""
        script = tmp_path / "largish.py"
        script.write_text(
            "import mmap, sys\n"
            "area = mmap.mmap(-1, 1 << 28, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)\n"
            "area.madvise(mmap.MADV_NOHUGEPAGE)\n"
            "for offset in range(0, 1 << 28, 2 * mmap.PAGESIZE): area[offset]\n"
            "print('ready', flush=True); sys.stdin.read()\n"
        )
        groups = {"large": {"cmdline": f".*{re.escape(str(script))}.*"}}
        settings = {
            "workers": 3,
            "queue_limit": 0,
            "export_concurrency": 1,
            "export_groups": json.dumps(groups),
            "export_max_age_seconds": 0,
        }
        with (
            sleepers(
                4, argv=[sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            ) as large,
            ServerProcess(auth="off", **settings) as server,
            server.client() as http,
        ):
            for process in large:
                assert process.stdout is not None and process.stdout.readline() == b"ready\n"
            done = threading.Event()
            statuses: list[int] = []

            def summaries() -> None:
                with server.client() as other:
                    while not done.is_set():
                        statuses.append(other.post("/summary", json={"pid": large[0].pid}).status_code)

            thread = threading.Thread(target=summaries)
            thread.start()
            try:
                for _ in range(10):
                    assert http.get("/metrics").status_code == 200
            finally:
                done.set()
                thread.join()
            assert metric(http, "pmscan_group_processes", group="large") == 4
            assert metric(http, "pmscan_export_incomplete") == 0
        assert statuses and set(statuses) == {200}


# ---- containers --------------------------------------------------------------------------------


@pytest.fixture(params=sorted(DRIVERS))
def pod(request: pytest.FixtureRequest) -> Iterator[KubePod]:
    """A Burstable pod of three containers, in the cgroup tree of each kubelet driver."""
    try:
        with KubePod(request.param) as created:
            yield created
    except CgroupUnavailableError as e:
        pytest.skip(str(e))


class TestContainers:
    def test_series_per_container_and_the_cap(self, pod: KubePod, target_binary: Path) -> None:
        with Target(target_binary) as first, Target(target_binary) as second, sleepers(1) as (third,):
            first.write(first.anon("a", 64), 0, 64)
            for index, process in enumerate((first, second, third)):
                pod.add(process.pid, index)
            settings = {"export_containers": "true", "export_max_age_seconds": 0}
            with ServerProcess(auth="off", **settings) as server, server.client() as http:
                processes = series(http, "pmscan_container_processes")
                memory = series(http, "pmscan_container_memory_bytes")
                summary = http.post("/summary", json={"pid": first.pid}).json()
                page_size = http.get("/capabilities").json()["page_size"]
                assert metric(http, "pmscan_export_containers_dropped") == 0
            ours = {
                dict(labels)["container_id"]: value
                for labels, value in processes.items()
                if dict(labels)["pod_uid"] == pod.uid
            }
            assert ours == dict.fromkeys(pod.container_ids, 1)
            labels = {"container_id": pod.container_ids[0], "runtime": pod.runtime, "pod_uid": pod.uid}
            key = tuple(sorted({**labels, "qos": "burstable", "category": "present"}.items()))
            assert memory[key] == summary["categories"]["PRESENT"] * page_size

            # Over the cap: the series stop at the cap, the rest is counted as dropped.
            total = len(processes)
            settings["export_containers_max"] = total - 1
            with ServerProcess(auth="off", **settings) as server, server.client() as http:
                assert len(series(http, "pmscan_container_processes")) == total - 1
                assert metric(http, "pmscan_export_containers_dropped") == 1


# ---- configurations refused at start-up --------------------------------------------------------


class TestRefusedAtStartUp:
    @pytest.mark.parametrize(
        ("env", "message"),
        [
            ({"PMSCAN_EXPORT_GROUPS": '{"web": {"comm": "ng(inx"}}'}, "group 'web': invalid comm regex"),
            (
                {"PMSCAN_EXPORT_GROUPS": '{"db": {"user": "postgres"}}'},
                "group 'db': unknown matcher key 'user'",
            ),
            ({"PMSCAN_EXPORT_CATEGORIES": "present,resident"}, "unknown category 'resident'"),
        ],
    )
    def test_the_message_names_the_setting_and_group(self, env: dict[str, str], message: str) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("PMSCAN_")}
        environment.update({"PMSCAN_AUTH": "off", "PMSCAN_PORT": "1", **env})
        result = subprocess.run(
            [str(server_executable())],
            check=False,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        setting = next(iter(env))
        assert setting in result.stderr and message in result.stderr, result.stderr
