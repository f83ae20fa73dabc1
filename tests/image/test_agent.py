"""The agent in its container, run as the DaemonSet runs it: over HTTPS with the mounted
certificate and token file, reading a host process as the kernel counts it, holding exactly the
two capabilities, and healthy by its probes."""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy._expected import CAPABILITIES
from tests.deploy.test_container import capability_mask
from tests.image._agent import Agent
from tests.support.podman import podman
from tests.support.target import Category, Target


@pytest.fixture
def http(agent: Agent, admin: str) -> Iterator[httpx.Client]:
    with agent.client(admin) as client:
        yield client


def status_fields(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, value in (line.split(":", 1) for line in lines)}


class TestHTTPS:
    def test_the_certificate_is_the_mounted_one(self, agent: Agent) -> None:
        with agent.client() as client:
            assert client.get("/healthz").status_code == 200

    def test_a_client_without_the_ca_refuses_it(self, agent: Agent) -> None:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(agent.url + "/healthz", verify=ssl.create_default_context())

    def test_no_plain_http(self, agent: Agent) -> None:
        with pytest.raises(httpx.TransportError):
            httpx.get(agent.url.replace("https:", "http:") + "/healthz", timeout=5)

    def test_tokens_come_from_the_mounted_file(self, agent: Agent, admin: str) -> None:
        with agent.client() as anonymous:
            assert anonymous.get("/capabilities").status_code == 401
        with agent.client("not-a-token") as wrong:
            assert wrong.get("/capabilities").status_code == 401
        with agent.client(admin) as client:
            assert client.get("/capabilities").status_code == 200

    def test_the_token_file_is_a_read_only_secret(self, agent: Agent) -> None:
        token_file = agent.run.environment["PMSCAN_TOKEN_FILE"]
        listing = agent.container.exec(
            "sh", "-c", f"readlink {token_file}; stat -L -c %a {token_file}"
        ).stdout
        assert listing.split() == ["..data/tokens", "400"]


class TestHostProcess:
    """POST /summary of a process on the host, from inside the container (hostPID), against the
    kernel's own answer: the target's ioctl(PAGEMAP_SCAN) on itself, and smaps_rollup."""

    def test_an_area_counts_as_the_kernel_counts_it(self, http: httpx.Client, target: Target) -> None:
        area = target.anon("written", 256)
        target.write(area, 0, 100, 2)  # every other page of the first 200
        zero = target.anon("zero", 64)
        target.read(zero, 0, 32)  # the zero page: present, not written
        page_size = http.get("/capabilities").json()["page_size"]
        for mapping in (area, zero):
            _, regions = target.kernel_scan(mapping.start, mapping.end)
            kernel: Counter[str] = Counter()
            for start, end, categories in regions:
                for category in Category:
                    if categories & category:
                        kernel[str(category.name)] += (end - start) // page_size
            response = http.post(
                "/summary", json={"pid": target.pid, "start": mapping.start, "end": mapping.end}
            )
            assert response.status_code == 200, response.text
            summary = response.json()
            assert summary["pid"] == target.pid
            assert {k: v for k, v in summary["categories"].items() if v} == +kernel
        assert kernel["PRESENT"] == kernel["PFNZERO"] == 32

    def test_the_whole_process_is_its_rss(self, http: httpx.Client, target: Target) -> None:
        area = target.anon("written", 512)
        target.write(area, 0, 300)
        summary = http.post("/summary", json={"pid": target.pid}).json()
        page_size = http.get("/capabilities").json()["page_size"]
        rollup = Path(f"/proc/{target.pid}/smaps_rollup").read_text().splitlines()
        (rss_kib,) = [int(line.split()[1]) for line in rollup if line.startswith("Rss:")]
        # kernel-notes 7b: present pages but the zero page are what smaps_rollup calls Rss.
        present = summary["categories"]["PRESENT"] - summary["categories"].get("PFNZERO", 0)
        assert present * page_size == rss_kib * 1024

    def test_another_users_process(self, http: httpx.Client, other_users_process: int) -> None:
        """The two capabilities at work: DAC_OVERRIDE and SYS_PTRACE over a process of uid 4242."""
        response = http.post("/summary", json={"pid": other_users_process})
        assert response.status_code == 200, response.text
        cleared = http.post(f"/processes/{other_users_process}/clear-soft-dirty")
        assert 200 <= cleared.status_code < 300, cleared.text


@pytest.fixture(scope="module")
def status(agent: Agent) -> dict[str, str]:
    """/proc/PID/status of the server, the container's process, read on the host."""
    pid = agent.container.pid
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[1].endswith(b"pmscan-server")
    return status_fields(pid)


class TestPrivileges:
    """The server process as the host sees it."""

    def test_exactly_the_two_capabilities(self, status: dict[str, str]) -> None:
        expected = capability_mask(CAPABILITIES)
        assert int(status["CapEff"], 16) == expected
        assert int(status["CapPrm"], 16) == expected
        assert int(status["CapBnd"], 16) == expected
        assert int(status["CapAmb"], 16) == 0

    def test_root_without_privilege_escalation_under_seccomp(self, status: dict[str, str]) -> None:
        assert status["Uid"].split() == ["0"] * 4
        assert status["NoNewPrivs"] == "1"
        assert status["Seccomp"] == "2"  # the runtime's default filter (seccompProfile RuntimeDefault)

    def test_the_hosts_pid_namespace(self, agent: Agent) -> None:
        assert Path(f"/proc/{agent.container.pid}/ns/pid").readlink() == Path("/proc/self/ns/pid").readlink()

    def test_only_tmp_is_writable(self, agent: Agent) -> None:
        result = agent.container.exec("sh", "-c", "touch /probe", check=False)
        assert "Read-only file system" in result.stderr
        for directory in ("/var/lib/pmscan", "/run", "/var/tmp", "/etc/pmscan/tokens"):
            result = agent.container.exec("sh", "-c", f"touch {directory}/probe", check=False)
            assert result.returncode != 0, directory
        agent.container.exec("sh", "-c", "touch /tmp/probe && rm /tmp/probe")


class TestProbes:
    def test_the_liveness_probe_is_the_health_check(self, agent: Agent) -> None:
        """podman schedules health checks with systemd timers, and no systemd runs here: asked by hand."""
        probe = agent.run.liveness
        assert probe is not None
        config = agent.container.inspect()["Config"]["Healthcheck"]
        assert probe.path in " ".join(config["Test"])
        assert config["Interval"] == probe.period_seconds * 10**9
        assert config["Retries"] == probe.failure_threshold
        result = podman("healthcheck", "run", agent.name, check=False)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_the_images_own_health_check(self, agent: Agent) -> None:
        assert agent.container.exec("python", "/opt/pmscan/healthcheck.py", check=False).returncode == 0
