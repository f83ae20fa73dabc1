"""deploy/grafana/pmscan.json: the Grafana dashboard.

Offline: its structure (ids, layout, the data-source variable on every query, every variable it
uses defined). Against a real Prometheus scraping a real pmscan (auth on, the token read from a
file) that exports a group and a Kubernetes-style container holding a real target process: every
panel query parses and returns data, every variable has values, and every recording rule of
deploy/prometheus/pmscan.rules.yml (loaded into that Prometheus) records a series, so the names
and labels of the dashboard and the rules are the exporter's own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy._expected import DEPLOY
from tests.support.cgroups import CgroupUnavailableError
from tests.support.kubepods import KubePod
from tests.support.metrics import until
from tests.support.prometheus import PrometheusServer, prometheus_binary
from tests.support.server import ServerProcess, issue_token
from tests.support.target import Target

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")

DASHBOARD = DEPLOY / "grafana" / "pmscan.json"
RULES = DEPLOY / "prometheus" / "pmscan.rules.yml"
# Grafana's own variables, as the test's Prometheus gets them: every node and group, a rate
# window that holds several of the test's one-second scrapes.
BUILTINS = {"$__rate_interval": "30s", "$__interval": "1s", "$__range": "1m"}
ALL = ".*"  # the variables' allValue
GRID_COLUMNS = 24


def load() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def panels() -> list[dict[str, Any]]:
    return [p for p in load()["panels"] if p["type"] != "row"]


def queries() -> list[tuple[str, str]]:
    """(``panel title / refId``, expression) of every panel query."""
    return [(f"{p['title']} / {t['refId']}", t["expr"]) for p in panels() for t in p["targets"]]


def variables() -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in load()["templating"]["list"]}


def instantiate(expr: str) -> str:
    """The query as Grafana sends it with every variable at "All"."""
    for name, value in BUILTINS.items():
        expr = expr.replace(name, value)
    for name in variables():
        expr = expr.replace(f"${{{name}}}", ALL).replace(f"${name}", ALL)
    return expr


class TestStructure:
    def test_ids_are_unique(self) -> None:
        ids = [p["id"] for p in load()["panels"]]
        assert len(ids) == len(set(ids))

    def test_panels_fit_the_grid_without_overlapping(self) -> None:
        taken: set[tuple[int, int]] = set()
        for panel in load()["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] >= 0, panel["title"]
            assert grid["x"] + grid["w"] <= GRID_COLUMNS, panel["title"]
            cells = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & taken, f"{panel['title']} overlaps another panel"
            taken |= cells

    def test_every_query_uses_the_data_source_variable(self) -> None:
        assert variables()["datasource"]["type"] == "datasource"
        assert variables()["datasource"]["query"] == "prometheus"
        for panel in panels():
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"]
                assert target["expr"].strip()

    def test_every_variable_used_is_defined(self) -> None:
        defined = {f"${name}" for name in variables()} | set(BUILTINS)
        text = DASHBOARD.read_text()
        used = set(re.findall(r"\$[A-Za-z_]+", text)) | {f"${m}" for m in re.findall(r"\$\{(\w+)\}", text)}
        used.discard("$")
        assert used <= defined, sorted(used - defined)

    def test_never_sums_over_category(self) -> None:
        """Categories overlap: an aggregation of memory bytes keeps one category."""
        for title, expr in queries():
            for selector in re.findall(r"pmscan_(?:group|container)_memory_bytes\{([^}]*)\}", expr):
                assert re.search(r'category="\w+"', selector), title


# ---- against a real Prometheus -------------------------------------------------------------------


@pytest.fixture(scope="module")
def pod() -> Iterator[KubePod]:
    """A Burstable pod of one containerd container, as the systemd cgroup driver names it."""
    try:
        with KubePod("systemd", containers=1) as made:
            yield made
    except CgroupUnavailableError as e:
        pytest.skip(f"the container panels need a pod's cgroup: {e}")


@pytest.fixture(scope="module")
def prometheus(
    target_binary: Path, pod: KubePod, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    """A Prometheus (with the rules file) scraping a pmscan that exports the group ``targets`` and
    containers; one target process (written, zero-page and THP memory) in the pod's container."""
    if prometheus_binary() is None:
        pytest.skip("prometheus is not installed (make tools)")
    tokens = tmp_path_factory.mktemp("scrape-token")
    groups = {"targets": {"exe": re.escape(str(target_binary))}}
    with Target(target_binary) as target:
        pod.add(target.pid, 0)
        target.write(target.anon("written", 256), 0, 256)
        target.read(target.anon("zero", 64), 0, 64)
        target.thp("thp", 4)
        with ServerProcess(
            export_groups=json.dumps(groups), export_containers="true", export_max_age_seconds=0
        ) as server:
            assert server.token_file is not None
            token_file = tokens / "token"
            token_file.write_text(issue_token(server.token_file, "prometheus", "read") + "\n")
            with PrometheusServer(
                [f"127.0.0.1:{server.port}"], token_file=token_file, rule_files=[RULES]
            ) as running:
                running.wait_for_scrape(scrapes=3)
                yield running


@pytest.mark.slow
class TestAgainstPrometheus:
    @pytest.mark.parametrize(("title", "expr"), queries(), ids=[title for title, _ in queries()])
    def test_panel_query_returns_data(self, prometheus: PrometheusServer, title: str, expr: str) -> None:
        # A query that does not parse is a 400 (bad_data): query() fails with Prometheus's message.
        result = prometheus.query(instantiate(expr))
        assert result, f"{title}: no data for {instantiate(expr)}"

    @pytest.mark.parametrize("name", ["instance", "group"])
    def test_variable_has_values(self, prometheus: PrometheusServer, name: str) -> None:
        variable = variables()[name]
        found = re.fullmatch(r"label_values\((.+), *(\w+)\)", variable["definition"])
        assert found is not None, variable["definition"]
        selector, label = found.groups()
        assert variable["query"]["query"] == variable["definition"]
        values = {
            r["metric"][label] for r in prometheus.query(f"count by ({label}) ({instantiate(selector)})")
        }
        assert values
        if name == "group":
            assert values == {"targets"}

    def test_every_recording_rule_records(self, prometheus: PrometheusServer, pod: KubePod) -> None:
        records = [
            rule["record"]
            for group in yaml.safe_load(RULES.read_text())["groups"]
            for rule in group["rules"]
            if "record" in rule
        ]
        until(lambda: all(prometheus.query(name) for name in records), f"series of {records}", timeout=60)
        # This pod's: the exporter exports every container of the node, other tests' pods too.
        (container,) = prometheus.query(f'instance_container:pmscan_huge_ratio{{pod_uid="{pod.uid}"}}')
        assert container["metric"]["pod_uid"] == pod.uid
        assert container["metric"]["container_id"] == pod.container_ids[0]
        assert container["metric"]["qos"] == "burstable"
        # 4 MiB of THP in 256 + 4 MiB of present pages (and more: the binary, the stack, libc)
        assert 0 < float(container["value"][1]) < 1
