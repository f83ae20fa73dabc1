"""Print the PrometheusRule of deploy/kubernetes/components/prometheus, made from pmscan.rules.yml.

`make rules` writes it; tests/deploy/test_prometheus_rules.py fails when the committed file differs
from what this prints. The rules file stays the one source: its groups go under `spec:` as text,
comments and all, so the PrometheusRule reads like the file Prometheus loads.
"""

from __future__ import annotations

import sys
from pathlib import Path

RULES = Path(__file__).with_name("pmscan.rules.yml")

HEADER = """\
# Generated from deploy/prometheus/pmscan.rules.yml by `make rules`: edit that file, not this one.
# prometheus-operator loads it into every Prometheus whose ruleSelector (and
# ruleNamespaceSelector) match it: add the labels your Prometheus selects on in an overlay.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: pmscan
  namespace: pmscan
  labels:
    app.kubernetes.io/name: pmscan
spec:
"""


def render(rules: str) -> str:
    """The PrometheusRule whose spec is ``rules`` (a rules file's text, from its ``groups:`` on;
    the comment block above ``groups:`` describes the file and is left out)."""
    lines = rules.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("groups:"))
    body = "".join(f"  {line}\n" if line.strip() else "\n" for line in lines[start:])
    return HEADER + body


def main() -> None:
    sys.stdout.write(render(RULES.read_text()))


if __name__ == "__main__":
    main()
