"""deploy/prometheus/pmscan.rules.yml: the recording and alerting rules, with Prometheus's promtool.

`promtool check rules` checks the file (syntax, PromQL, templates), `promtool test rules` runs its
unit tests (tests/deploy/pmscan.rules.test.yml: series in, recorded values and firing alerts out),
and the PrometheusRule of the Kubernetes component must be the file, as `make rules` makes it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy._expected import DEPLOY, REPO

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")

RULES = DEPLOY / "prometheus" / "pmscan.rules.yml"
RULES_TESTS = Path(__file__).with_name("pmscan.rules.test.yml")
PROMETHEUS_RULE = DEPLOY / "kubernetes" / "components" / "prometheus" / "prometheusrule.yaml"


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        pytest.skip("promtool (Debian's prometheus package, `make tools`) is not installed")
    return subprocess.run(
        ["promtool", *map(str, args)], capture_output=True, text=True, check=False, timeout=120
    )


class TestPromtool:
    def test_check_rules(self) -> None:
        result = promtool("check", "rules", RULES)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout

    def test_unit_tests_pass(self) -> None:
        result = promtool("test", "rules", RULES_TESTS)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_unit_tests_cover_every_alert(self) -> None:
        alerts = {
            rule["alert"]
            for group in yaml.safe_load(RULES.read_text())["groups"]
            for rule in group["rules"]
            if "alert" in rule
        }
        tested = {
            case["alertname"]
            for test in yaml.safe_load(RULES_TESTS.read_text())["tests"]
            for case in test.get("alert_rule_test", [])
            if case["exp_alerts"]
        }
        assert alerts == tested

    def test_a_wrong_expectation_fails(self, tmp_path: Path) -> None:
        """The unit tests can fail: the same tests, one expected value changed."""
        tests = yaml.safe_load(RULES_TESTS.read_text())
        tests["rule_files"] = [str(RULES)]
        tests["tests"][0]["promql_expr_test"][0]["exp_samples"][0]["value"] = 0.5
        broken = tmp_path / "broken.test.yml"
        broken.write_text(yaml.safe_dump(tests))
        result = promtool("test", "rules", broken)
        assert result.returncode != 0
        assert "FAILED" in result.stdout + result.stderr


class TestOneSource:
    def test_prometheus_rule_is_generated_from_the_rules_file(self) -> None:
        generated = subprocess.run(
            [sys.executable, str(DEPLOY / "prometheus" / "prometheusrule.py")],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        ).stdout
        assert PROMETHEUS_RULE.read_text() == generated, "run `make rules`"

    def test_prometheus_rule_spec_is_the_rules_file(self) -> None:
        rule = yaml.safe_load(PROMETHEUS_RULE.read_text())
        assert rule["kind"] == "PrometheusRule"
        assert rule["spec"] == yaml.safe_load(RULES.read_text())
