"""deploy/systemd: the unit file, its environment file and its system user.

Offline checks read the files and run systemd's own tools on them (`systemd-analyze verify`,
`systemd-analyze security --offline=yes`, `systemd-sysusers --root`). No systemd runs here, so the
parts of the sandbox that matter most to pmscan are reproduced without it: the unit's user and
capabilities with setpriv against another user's process, and MemoryDenyWriteExecute= with the
kernel's PR_SET_MDWE.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy import _sandbox
from tests.deploy._expected import AGENT_UID, CAPABILITIES, DEPLOY, SETTINGS
from tests.deploy._unit import UNIT, parse_unit, service_section

SYSTEMD = DEPLOY / "systemd"
ENV_EXAMPLE = SYSTEMD / "pmscan.env.example"
SYSUSERS = SYSTEMD / "pmscan.sysusers.conf"
README = DEPLOY / "README.md"
PROBE = Path(__file__).with_name("_privilege_probe.py")


@pytest.fixture(scope="module")
def service() -> dict[str, list[str]]:
    return parse_unit(UNIT.read_text())["Service"]


def one(service: dict[str, list[str]], key: str) -> str:
    values = service.get(key, [])
    assert len(values) == 1, f"{key}= should be set exactly once, is {values}"
    return values[0]


def unit_with_existing_exec(tmp_path: Path) -> Path:
    """A copy of the unit whose ExecStart= names an executable that exists here: the tools check the
    binary, and pmscan-server need not be installed on the machine that runs the tests."""
    copy = tmp_path / UNIT.name
    # Quoted: the checkout, and so the venv's interpreter, may lie under a path with spaces.
    text = re.sub(r"(?m)^ExecStart=\S+", lambda _: f'ExecStart="{sys.executable}"', UNIT.read_text())
    copy.write_text(text)
    return copy


class TestUnitSettings:
    def test_runs_the_installed_console_script(self, service: dict[str, list[str]]) -> None:
        assert one(service, "ExecStart") == "/usr/local/bin/pmscan-server"

    def test_capabilities_are_the_expected_bounding_and_ambient_set(
        self, service: dict[str, list[str]]
    ) -> None:
        assert set(one(service, "CapabilityBoundingSet").split()) == CAPABILITIES
        assert set(one(service, "AmbientCapabilities").split()) == CAPABILITIES

    def test_runs_as_the_static_user_that_sysusers_creates(self, service: dict[str, list[str]]) -> None:
        entries = [line.split() for line in SYSUSERS.read_text().splitlines() if line.startswith("u ")]
        assert [e[1] for e in entries] == [one(service, "User")]
        assert one(service, "Group") == one(service, "User")
        assert "DynamicUser" not in service

    @pytest.mark.parametrize(
        ("key", "value"),
        [
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("PrivateTmp", "yes"),
            ("PrivateDevices", "yes"),
            ("ProtectKernelTunables", "yes"),
            ("ProtectKernelModules", "yes"),
            ("ProtectKernelLogs", "yes"),
            ("ProtectControlGroups", "yes"),
            ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
            ("RestrictNamespaces", "yes"),
            ("LockPersonality", "yes"),
            ("MemoryDenyWriteExecute", "yes"),
            ("SystemCallArchitectures", "native"),
            ("RuntimeDirectory", "pmscan"),
            ("StateDirectory", "pmscan"),
            ("Restart", "on-failure"),
            ("EnvironmentFile", "-/etc/pmscan/pmscan.env"),
            ("LimitNOFILE", "65536"),
        ],
    )
    def test_hardening(self, service: dict[str, list[str]], key: str, value: str) -> None:
        assert one(service, key) == value

    def test_system_call_filter_allows_system_service_set_only(self, service: dict[str, list[str]]) -> None:
        assert service["SystemCallFilter"][0] == "@system-service"
        assert all(v.startswith("~") for v in service["SystemCallFilter"][1:])

    def test_proc_stays_whole(self, service: dict[str, list[str]]) -> None:
        # The service reads /proc/PID/* of every process; hidepid= and subset=pid are not for it.
        assert service.get("ProtectProc", ["default"]) == ["default"]
        assert service.get("ProcSubset", ["all"]) == ["all"]
        # Capabilities in a private user namespace would not reach the host's processes.
        assert "PrivateUsers" not in service

    def test_token_file_lives_in_the_state_directory(self, service: dict[str, list[str]]) -> None:
        environment = dict(v.split("=", 1) for v in service["Environment"])
        state = Path("/var/lib") / one(service, "StateDirectory")
        assert Path(environment["PMSCAN_TOKEN_FILE"]).parent == state
        assert set(environment) <= SETTINGS
        # The environment file comes after the defaults, so that it overrides them.
        text = UNIT.read_text()
        assert text.index("Environment=PMSCAN_TOKEN_FILE") < text.index("EnvironmentFile=")


class TestEnvironmentExample:
    def test_names_only_settings_the_server_knows(self) -> None:
        names = re.findall(r"(?m)^#?(PMSCAN_[A-Z_]+)=", ENV_EXAMPLE.read_text())
        assert names, "no settings in the example"
        assert set(names) <= SETTINGS
        assert set(names) == SETTINGS, f"undocumented: {sorted(SETTINGS - set(names))}"

    def test_socket_path_is_in_the_runtime_directory(self, service: dict[str, list[str]]) -> None:
        (uds,) = re.findall(r"(?m)^#?PMSCAN_UDS=(\S+)", ENV_EXAMPLE.read_text())
        assert Path(uds).parent == Path("/run") / one(service, "RuntimeDirectory")


class TestSystemdTools:
    @pytest.fixture(autouse=True)
    def _systemd_analyze(self) -> None:
        if shutil.which("systemd-analyze") is None:
            pytest.skip("systemd-analyze is not installed")

    def test_verify_is_clean(self, tmp_path: Path) -> None:
        # verify exits 0 on unknown keys and unknown syscall groups, and only warns: any output fails.
        result = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", str(unit_with_existing_exec(tmp_path))],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr.strip() == ""

    def test_security_exposure_is_the_one_recorded_in_the_readme(self, tmp_path: Path) -> None:
        result = subprocess.run(
            ["systemd-analyze", "security", "--offline=yes", str(unit_with_existing_exec(tmp_path))],
            capture_output=True,
            text=True,
            check=False,
        )
        match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
        if match is None and "offline" in result.stderr:
            pytest.skip(f"this systemd-analyze has no --offline: {result.stderr.strip()}")
        assert match, result.stdout + result.stderr
        recorded = re.search(r"exposure level (\d+\.\d+)", README.read_text())
        assert recorded, "deploy/README.md records no exposure level"
        assert float(match.group(1)) <= float(recorded.group(1))

    def test_sysusers_creates_user_and_group(self, tmp_path: Path) -> None:
        if shutil.which("systemd-sysusers") is None:
            pytest.skip("systemd-sysusers is not installed")
        (tmp_path / "etc" / "sysusers.d").mkdir(parents=True)
        shutil.copy(SYSUSERS, tmp_path / "etc" / "sysusers.d" / "pmscan.conf")
        subprocess.run(["systemd-sysusers", f"--root={tmp_path}"], check=True, capture_output=True)
        passwd = (tmp_path / "etc" / "passwd").read_text().splitlines()
        group = (tmp_path / "etc" / "group").read_text().splitlines()
        (user,) = [line.split(":") for line in passwd if line.startswith("pmscan:")]
        assert int(user[2]) != 0
        assert user[5] == "/var/lib/pmscan"
        assert any(line.startswith("pmscan:") for line in group)


@pytest.mark.root
class TestUnitCapabilitiesReachOtherUsersProcesses:
    """The unit's User=/AmbientCapabilities=/CapabilityBoundingSet=/NoNewPrivileges=, reproduced with
    setpriv, against a process of another user: the unit's capabilities must be enough for a non-root
    user, and none must not (so the probe really asks the kernel)."""

    def _probe(self, capabilities: frozenset[str], pid: int) -> dict[str, str]:
        python = _sandbox.python_for_any_user()
        if python is None:
            pytest.skip("no Python interpreter here is executable by an unprivileged user")
        probe = PROBE.read_text()
        argv = _sandbox.setpriv_argv(AGENT_UID, capabilities, [str(python), "-c", probe, str(pid)])
        result = subprocess.run(argv, capture_output=True, text=True, check=True)
        results: dict[str, str] = json.loads(result.stdout)
        return results

    @pytest.fixture(autouse=True)
    def _root(self) -> None:
        if os.geteuid() != 0:
            pytest.skip("needs root to switch users and grant capabilities")

    def test_unit_capabilities_suffice(
        self, service: dict[str, list[str]], other_users_process: subprocess.Popen[bytes]
    ) -> None:
        capabilities = frozenset(one(service, "AmbientCapabilities").split())
        results = self._probe(capabilities, other_users_process.pid)
        if results["pagemap_scan"] == "ENOTTY":
            results.pop("pagemap_scan")  # a kernel before 6.7 has no PAGEMAP_SCAN; the open still counts
        assert results == dict.fromkeys(results, "ok")

    def test_without_capabilities_the_kernel_refuses(
        self, other_users_process: subprocess.Popen[bytes]
    ) -> None:
        results = self._probe(frozenset(), other_users_process.pid)
        assert results["read_pagemap"] == "EACCES"
        assert results["pagemap_scan"] == "EACCES"
        assert results["clear_soft_dirty"] == "EACCES"


@pytest.mark.root
class TestProcMountOptionsTheUnitLeavesOut:
    """What ProtectProc=invisible (hidepid=invisible) and ProcSubset=pid (subset=pid) would do to this
    service: a /proc mounted with both, in a private mount namespace, read by the unit's user with the
    unit's capabilities. The unit's comments rest on these facts."""

    LOOK = """
import json, os, sys
proc, pid = sys.argv[1], sys.argv[2]
print(json.dumps({"other_pid": os.path.isdir(f"{proc}/{pid}"), "stat": os.path.exists(f"{proc}/stat"),
                  "self_mountinfo": os.path.exists(f"{proc}/self/mountinfo")}))
"""

    def test_hidepid_hides_nothing_and_subset_hides_proc_stat(
        self, tmp_path: Path, other_users_process: subprocess.Popen[bytes]
    ) -> None:
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            pytest.skip("needs root and unshare (util-linux) for a private /proc mount")
        python = _sandbox.python_for_any_user()
        if python is None:
            pytest.skip("no Python interpreter here is executable by an unprivileged user")
        mount_point = tmp_path / "proc"
        mount_point.mkdir()
        capabilities = frozenset(one(service_section(), "AmbientCapabilities").split())
        look = _sandbox.setpriv_argv(AGENT_UID, capabilities, [str(python), "-c", self.LOOK])
        script = 'mount -t proc -o hidepid=invisible,subset=pid proc "$1" && shift && exec "$@"'
        result = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(mount_point),
             *look, str(mount_point), str(other_users_process.pid)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0 and "mount" in result.stderr:
            pytest.skip(f"cannot mount a private /proc here: {result.stderr.strip()}")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"other_pid": True, "stat": False, "self_mountinfo": True}


class TestMemoryDenyWriteExecute:
    """MemoryDenyWriteExecute= refuses memory that is both writable and executable. The kernel's
    PR_SET_MDWE enforces the same rule; the Python stack must run under it."""

    # Imported when installed; missing ones are reported, not failed (the server's own stack is run
    # under MDWE by test_container.py once it is installed).
    MODULES = ("ssl", "asyncio", "uvloop", "httptools", "pydantic_core", "fastapi", "uvicorn", "app.pagemap")

    SCRIPT = """
import ctypes, importlib, json, mmap, sys
callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1)
assert callback(41) == 42
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    enforced = False
except OSError:
    enforced = True
imported = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError:
        continue
    imported.append(name)
print(json.dumps({"enforced": enforced, "imported": imported}))
"""

    def test_python_stack_runs_under_mdwe(self) -> None:
        if not _sandbox.mdwe_supported():
            pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
        result = subprocess.run(
            _sandbox.under_mdwe([sys.executable, "-c", self.SCRIPT, *self.MODULES]),
            capture_output=True,
            text=True,
            check=False,
            cwd=DEPLOY.parent,
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["enforced"], "PR_SET_MDWE was not in force: the check proves nothing"
        assert "ssl" in report["imported"]
