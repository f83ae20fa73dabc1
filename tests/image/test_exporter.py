"""The exporter of the containerized agent: another container under its container_id, a process
group of host processes, and a real Prometheus scraping it as the PodMonitor configures it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.image._agent import Agent, Deployment, exported_containers
from tests.image._scrape import scrape_job
from tests.support.podman import Container
from tests.support.prometheus import PrometheusServer, prometheus_binary
from tests.support.target import Target

# Memory the other container writes, so that its series have something to count.
WRITTEN_MIB = 32


def eventually(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """``check()``'s first true value, polled (fails after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def other_container(image: str) -> Iterator[Container]:
    """A container of the same image that writes WRITTEN_MIB and sleeps: a workload on the node."""
    program = f"import time; data = bytearray(b'x' * ({WRITTEN_MIB} << 20)); time.sleep(600)"
    name = f"pmscan-test-other-{uuid.uuid4().hex[:12]}"
    with Container(
        image, ["--network", "none", "--entrypoint", "python"], ["-c", program], name=name
    ) as container:
        yield container


@pytest.fixture(scope="module")
def http(agent: Agent, admin: str) -> Iterator[httpx.Client]:
    with agent.client(admin) as client:
        yield client


class TestContainers:
    def test_another_container_is_found_by_get_containers(
        self, http: httpx.Client, other_container: Container
    ) -> None:
        # By a prefix of 12 digits, as `podman ps` shows it; from inside the agent's private
        # cgroup namespace, answered with the host's cgroup path.
        response = http.get("/containers", params={"container_id": other_container.id[:12]})
        assert response.status_code == 200, response.text
        (found,) = response.json()
        assert found["container_id"] == other_container.id
        assert found["runtime"] == "podman"
        assert found["pod_uid"] == ""  # a container outside Kubernetes
        assert found["pids"] == [other_container.pid]
        assert other_container.id in found["cgroup"]
        assert not found["cgroup"].startswith("/..")

    def test_another_container_is_exported_under_its_id(
        self, http: httpx.Client, other_container: Container
    ) -> None:
        exported = eventually(
            lambda: exported_containers(http.get("/metrics").text).get(other_container.id),
            f"series of container {other_container.id}",
        )
        assert exported["runtime"] == "podman"
        assert exported["pod_uid"] == ""  # a container outside Kubernetes
        assert float(exported["processes"]) == 1

    def test_its_memory(self, http: httpx.Client, other_container: Container) -> None:
        def present() -> float:
            wanted = {"container_id": other_container.id, "category": "present"}
            for family in text_string_to_metric_families(http.get("/metrics").text):
                for sample in family.samples:
                    if (
                        sample.name == "pmscan_container_memory_bytes"
                        and wanted.items() <= sample.labels.items()
                    ):
                        return float(sample.value)
            return 0.0

        assert eventually(lambda: present() >= WRITTEN_MIB << 20, "the written memory")


class TestGroups:
    def test_a_group_of_host_processes_is_their_summaries(
        self, http: httpx.Client, group_binary: Path
    ) -> None:
        with Target(group_binary) as first, Target(group_binary) as second:
            for target in (first, second):
                target.write(target.anon("written", 256), 0, 128)
            series = eventually(lambda: _group_series(http, "targets", processes=2), "both targets counted")
            summaries = [http.post("/summary", json={"pid": t.pid}).json() for t in (first, second)]
        page_size = http.get("/capabilities").json()["page_size"]
        present = sum(s["categories"]["PRESENT"] for s in summaries) * page_size
        assert series["present"] == present


def _group_series(http: httpx.Client, group: str, processes: int) -> dict[str, float] | None:
    values: dict[str, float] = {}
    for line in http.get("/metrics").text.splitlines():
        if f'group="{group}"' not in line or line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        if name.startswith("pmscan_group_processes"):
            values["processes"] = float(value)
        elif name.startswith("pmscan_group_memory_bytes") and 'category="present"' in name:
            values["present"] = float(value)
    return values if values.get("processes") == processes else None


@pytest.fixture(scope="module")
def prometheus(
    deployment: Deployment, agent: Agent, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    """Debian's Prometheus with the scrape job prometheus-operator would make of the PodMonitor."""
    if prometheus_binary() is None:
        pytest.skip("prometheus is not installed (make tools installs it)")
    job = scrape_job(deployment, agent, tmp_path_factory.mktemp("scrape"))
    with PrometheusServer(targets=[], extra_scrape_configs=[job]) as server:
        server.wait_for_scrape(scrapes=1, timeout=60)
        yield server


class TestPrometheus:
    """A real Prometheus (Debian's) scrapes the agent over TLS with the token file, as
    prometheus-operator configures it from the PodMonitor (tests/image/_scrape.py)."""

    def test_the_agent_is_up(self, prometheus: PrometheusServer) -> None:
        (up,) = prometheus.query("up")
        assert up["value"][1] == "1"
        assert up["metric"]["job"].startswith("podMonitor/pmscan/pmscan/")

    def test_the_relabeling_names_the_node(self, prometheus: PrometheusServer) -> None:
        (info,) = prometheus.query("pmscan_build_info")
        assert info["metric"]["node"]

    def test_container_and_group_series_arrive(
        self, prometheus: PrometheusServer, other_container: Container
    ) -> None:
        def stored() -> list[dict[str, Any]]:
            return prometheus.query(f'pmscan_container_processes{{container_id="{other_container.id}"}}')

        assert eventually(stored, "the other container's series in Prometheus", timeout=60)
        assert prometheus.query('pmscan_group_processes{group="targets"}')
