"""Reading a real server's /metrics, and waiting for a condition, as the tests do."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["metric", "until"]


def metric(http: httpx.Client, name: str, **labels: str) -> float:
    """The value of the sample ``name`` with exactly ``labels`` in the server's /metrics. A
    labelled series appears with its first sample: until then it is 0; a missing unlabelled
    one fails the test."""
    wanted = labels.items()
    for family in text_string_to_metric_families(http.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and sample.labels.items() == wanted:
                return float(sample.value)
    if labels:
        return 0.0
    raise AssertionError(f"no {name} in /metrics")


def until(condition: Callable[[], bool], what: str, *, timeout: float = 10.0) -> float:
    """Poll ``condition()`` until it is true; the seconds it took (fails after ``timeout``)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"not within {timeout} s: {what}"
        time.sleep(0.002)
    return time.monotonic() - started
