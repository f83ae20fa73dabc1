"""A real Prometheus scrapes a real pmscan server (authentication on, the bearer token read from
a file): the group's present bytes it stores equal the kernel's count of present pages, and
``promtool check metrics`` accepts pmscan's /metrics."""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cgroups import CgroupUnavailableError
from tests.support.kubepods import KubePod
from tests.support.metrics import until
from tests.support.prometheus import PrometheusServer, prometheus_binary, promtool_binary
from tests.support.server import ServerProcess, issue_token
from tests.support.target import Target

from .test_exporter import present_pages


@pytest.fixture
def scraped(target_binary: Path, tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    """A pmscan server with auth on, exporting the group ``targets`` (this session's pmtarget
    binary); yields it and a read-only token for it."""
    groups = {"targets": {"exe": re.escape(str(target_binary))}}
    with ServerProcess(export_groups=json.dumps(groups), export_max_age_seconds=0) as server:
        assert server.token_file is not None
        token = issue_token(server.token_file, "prometheus", "read")
        yield server, token


@pytest.mark.skipif(prometheus_binary() is None, reason="prometheus is not installed (make tools)")
class TestPrometheusScrapes:
    def test_present_bytes_are_the_kernels_page_count(
        self, scraped: tuple[ServerProcess, str], target: Target, tmp_path: Path
    ) -> None:
        server, token = scraped
        area = target.anon("written", 512)
        target.write(area, 0, 300, 1)
        target.read(target.anon("zero", 64), 0, 64)
        token_file = tmp_path / "pmscan-token"
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        with server.client(headers={"Authorization": f"Bearer {token}"}) as http:
            capabilities = http.get("/capabilities").json()
        expected = present_pages(target.pid, capabilities["user_address_limit"]) * capabilities["page_size"]
        with PrometheusServer([f"127.0.0.1:{server.port}"], token_file=token_file) as prometheus:
            prometheus.wait_for_scrape(scrapes=2)
            assert prometheus.value('up{job="pmscan"}') == 1
            stored = prometheus.value('pmscan_group_memory_bytes{group="targets", category="present"}')
            assert stored == expected
            assert prometheus.value('pmscan_group_processes{group="targets"}') == 1
            assert prometheus.value("pmscan_export_incomplete") == 0
            assert prometheus.value('sum(pmscan_export_errors_total{reason=~"timeout|busy|error"})') == 0

    def test_a_wrong_token_is_a_failed_scrape(
        self, scraped: tuple[ServerProcess, str], tmp_path: Path
    ) -> None:
        server, _ = scraped
        token_file = tmp_path / "wrong-token"
        token_file.write_text("pmscan_" + "A" * 43 + "\n")
        with PrometheusServer([f"127.0.0.1:{server.port}"], token_file=token_file) as prometheus:

            def refused() -> bool:
                return any(
                    t["health"] == "down" and "401" in t["lastError"] for t in prometheus.targets_health()
                )

            until(refused, "a scrape refused with 401", timeout=60)


@pytest.mark.skipif(promtool_binary() is None, reason="promtool is not installed (make tools)")
class TestPromtool:
    def test_check_metrics_accepts_the_exposition(
        self, scraped: tuple[ServerProcess, str], target: Target
    ) -> None:
        server, token = scraped
        with server.client(headers={"Authorization": f"Bearer {token}"}) as http:
            http.post("/summary", json={"pid": target.pid})  # scan series with samples too
            text = http.get("/metrics").text
        assert "pmscan_group_memory_bytes" in text
        promtool = promtool_binary()
        assert promtool is not None
        result = subprocess.run(
            [promtool, "check", "metrics"],
            input=text,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            env={**os.environ, "LC_ALL": "C"},
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout + result.stderr


def readme_promql() -> list[str]:
    """The queries of the ``promql`` block of docs/exporter.md (each after its ``#`` comment line)."""
    document = (Path(__file__).resolve().parents[2] / "docs" / "exporter.md").read_text()
    block = document.split("```promql\n", 1)[1].split("```", 1)[0]
    queries: list[list[str]] = []
    for line in block.splitlines():
        if line.startswith("#"):
            queries.append([])
        else:
            queries[-1].append(line)
    return ["\n".join(lines) for lines in queries]


class _StaticMetrics(http.server.BaseHTTPRequestHandler):
    """kube-state-metrics' answer about one pod, as it would give it (a fixed exposition)."""

    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def kube_pod() -> Iterator[KubePod]:
    try:
        with KubePod("systemd", containers=1) as pod:
            yield pod
    except CgroupUnavailableError as e:
        pytest.skip(str(e))


@pytest.mark.skipif(prometheus_binary() is None, reason="prometheus is not installed (make tools)")
class TestKubeStateMetricsJoin:
    def test_the_readme_queries_name_the_pod_and_container(self, kube_pod: KubePod, target: Target) -> None:
        """pmscan's container series joined with kube-state-metrics' series of the same pod, by
        the PromQL of docs/exporter.md, carry the pod's namespace, name and container name."""
        kube_pod.add(target.pid, 0)
        container_id = kube_pod.container_ids[0]
        _StaticMetrics.body = (
            "# TYPE kube_pod_info gauge\n"
            f'kube_pod_info{{namespace="shop",pod="cart-0",uid="{kube_pod.uid}",node="n1"}} 1\n'
            "# TYPE kube_pod_container_info gauge\n"
            f'kube_pod_container_info{{namespace="shop",pod="cart-0",container="app",'
            f'container_id="containerd://{container_id}",uid="{kube_pod.uid}"}} 1\n'
        ).encode()
        ksm = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StaticMetrics)
        serving = threading.Thread(target=ksm.serve_forever)
        serving.start()
        try:
            settings = {"export_containers": "true", "export_max_age_seconds": 0}
            with ServerProcess(auth="off", **settings) as server:
                jobs = [
                    {
                        "job_name": "kube-state-metrics",
                        "static_configs": [{"targets": [f"127.0.0.1:{ksm.server_port}"]}],
                    }
                ]
                with PrometheusServer([f"127.0.0.1:{server.port}"], extra_scrape_configs=jobs) as prometheus:
                    prometheus.wait_for_scrape(scrapes=2)
                    per_pod, per_container = readme_promql()
                    (pod_row,) = prometheus.query(per_pod)
                    assert pod_row["metric"] == {"namespace": "shop", "pod": "cart-0"}
                    (container_row,) = prometheus.query(per_container)
                    labels = container_row["metric"]
                    assert (labels["namespace"], labels["pod"], labels["container"]) == (
                        "shop",
                        "cart-0",
                        "app",
                    )
                    assert labels["container_id"] == container_id and labels["pod_uid"] == kube_pod.uid
                    huge = prometheus.value(
                        f'pmscan_container_memory_bytes{{category="huge", container_id="{container_id}"}}'
                    )
                    assert float(container_row["value"][1]) == huge
        finally:
            ksm.shutdown()
            serving.join()
            ksm.server_close()
