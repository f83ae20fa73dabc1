"""GET /processes (filters comm, uid, cgroup) and GET /processes/{pid}/maps, against /proc."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cgroups import CgroupUnavailableError, TemporaryCgroup
from tests.support.children import named_sleep, sleepers

PF_KTHREAD = 0x00200000
NOBODY = 65534


def stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(") ")[2].split()


def is_kernel_thread(pid: int) -> bool:
    return bool(int(stat_fields(pid)[6]) & PF_KTHREAD)


def user_pids() -> set[int]:
    pids = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError):
                if not is_kernel_thread(int(name)):
                    pids.add(int(name))
    return pids


def pids_of(http: httpx.Client, **params: Any) -> list[int]:
    response = http.get("/processes", params=params)
    assert response.status_code == 200, response.text
    return [entry["pid"] for entry in response.json()]


@pytest.fixture(scope="module")
def sleep_binary() -> Iterator[Path]:
    """A copy of sleep with a name of its own, in a directory any user may enter."""
    with tempfile.TemporaryDirectory(prefix="pmscan-test-") as directory:
        os.chmod(directory, 0o755)
        with named_sleep(Path(directory)) as path:
            yield path


@pytest.fixture
def cgroup() -> Iterator[TemporaryCgroup]:
    try:
        with TemporaryCgroup() as created:
            yield created
    except CgroupUnavailableError as e:
        pytest.skip(str(e))


class TestListEqualsProc:
    def test_comm_filter(self, http: httpx.Client, sleep_binary: Path) -> None:
        page_size = os.sysconf("SC_PAGE_SIZE")
        with sleepers(3, argv=[str(sleep_binary), "1000"]) as processes:
            response = http.get("/processes", params={"comm": sleep_binary.name})
            entries = response.json()
            assert [e["pid"] for e in entries] == sorted(p.pid for p in processes)
            for entry in entries:
                pid = entry["pid"]
                assert entry["comm"] == Path(f"/proc/{pid}/comm").read_text().strip() == sleep_binary.name
                assert entry["uid"] == os.stat(f"/proc/{pid}").st_uid == os.getuid()
                assert (
                    entry["rss_bytes"] == int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page_size
                )

    @pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a process as another user")
    def test_uid_filter(self, http: httpx.Client, sleep_binary: Path) -> None:
        argv = [str(sleep_binary), "1000"]
        with sleepers(1, argv=argv) as (mine,), sleepers(1, argv=argv, user=NOBODY) as (nobodys,):
            assert os.stat(f"/proc/{nobodys.pid}").st_uid == NOBODY
            assert pids_of(http, comm=sleep_binary.name, uid=NOBODY) == [nobodys.pid]
            assert pids_of(http, comm=sleep_binary.name, uid=0) == [mine.pid]
            assert sorted(pids_of(http, comm=sleep_binary.name)) == sorted([mine.pid, nobodys.pid])

    def test_every_user_process_and_no_kernel_thread(self, http: httpx.Client) -> None:
        before = user_pids()
        listed = set(pids_of(http))
        after = user_pids()
        assert before & after <= listed  # those alive throughout are all listed
        assert listed <= before | after  # and nothing else (no kernel thread, no invention)
        kernel_threads = {p for p in listed if os.path.exists(f"/proc/{p}") and is_kernel_thread(p)}
        assert not kernel_threads


class TestCgroupFilter:
    def test_v2_cgroup_and_descendants(self, http: httpx.Client, cgroup: TemporaryCgroup) -> None:
        cgroup.make("sub")
        with sleepers(3) as processes:
            top, sub = [p.pid for p in processes[:2]], processes[2].pid
            for pid in top:
                cgroup.add(pid)
            cgroup.add(sub, "sub")
            assert f"0::{cgroup.spec('sub')}" in Path(f"/proc/{sub}/cgroup").read_text().splitlines()
            everyone = sorted([*top, sub])
            assert pids_of(http, cgroup=cgroup.spec()) == everyone
            for spelling in (f"::{cgroup.spec()}", cgroup.spec()[1:], cgroup.spec() + "/"):
                assert pids_of(http, cgroup=spelling) == everyone
            assert pids_of(http, cgroup=cgroup.spec("sub")) == [sub]
            assert pids_of(http, cgroup=cgroup.spec(), comm="sleep") == everyone
            # The kernel's own lists agree.
            kernel = [
                int(p)
                for d in ("", "sub")
                for p in (cgroup.directory(d) / "cgroup.procs").read_text().split()
            ]
            assert sorted(kernel) == everyone

    def test_v1_hierarchy(self, http: httpx.Client) -> None:
        try:
            v1 = TemporaryCgroup("pids")
        except CgroupUnavailableError as e:
            pytest.skip(str(e))
        with v1, sleepers(2) as (inside, outside):
            v1.add(inside.pid)
            assert v1.spec().startswith("pids:/")
            assert pids_of(http, cgroup=v1.spec()) == [inside.pid]
            assert outside.pid in pids_of(http, cgroup="pids:/")

    def test_unknown_cgroup(self, http: httpx.Client) -> None:
        response = http.get("/processes", params={"cgroup": "/pmscan-test-no-such-cgroup"})
        assert response.status_code == 404
        assert response.json()["detail"]["code"] == "ENOENT"

    @pytest.mark.parametrize("cgroup", ["/a/../b", "bad controller!:/x", ""])
    def test_invalid_cgroup(self, http: httpx.Client, cgroup: str) -> None:
        response = http.get("/processes", params={"cgroup": cgroup})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "cgroup"]


def proc_maps(pid: int) -> list[dict[str, Any]]:
    """``/proc/PID/maps``, parsed here independently of the service."""
    mappings = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        start, end = fields[0].split("-")
        mappings.append(
            {
                "start": int(start, 16),
                "end": int(end, 16),
                "perms": fields[1],
                "offset": int(fields[2], 16),
                "dev": fields[3],
                "inode": int(fields[4]),
                "path": fields[5] if len(fields) > 5 else "",
            }
        )
    return mappings


class TestMaps:
    def test_equal_to_proc_maps(self, http: httpx.Client) -> None:
        sleep = shutil.which("sleep")
        assert sleep is not None
        with sleepers(1) as (process,):
            response = http.get(f"/processes/{process.pid}/maps")
            assert response.status_code == 200
            maps = response.json()
            assert maps == proc_maps(process.pid)
            executable = [m for m in maps if m["path"] == os.path.realpath(sleep)]
            assert executable
            assert {m["inode"] for m in executable} == {os.stat(sleep).st_ino}
            device = os.stat(sleep).st_dev
            assert {m["dev"] for m in executable} == {f"{os.major(device):02x}:{os.minor(device):02x}"}

    def test_unknown_process(self, http: httpx.Client) -> None:
        process = subprocess.Popen(["true"])
        process.wait()
        response = http.get(f"/processes/{process.pid}/maps")
        assert response.status_code == 404
        assert response.json()["detail"]["code"] == "ESRCH"
