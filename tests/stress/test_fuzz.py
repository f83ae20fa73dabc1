"""Schemathesis against the app's own ``openapi.json`` and a real server over loopback.

Every operation, stateless, in all of schemathesis's phases (explicit examples, coverage of
boundary values, random fuzzing) and both generation modes (valid and invalid requests). What
must hold for every request: no 5xx but 501 (an answer: the request needs what this machine
lacks), a documented status and content type, a body that conforms to the documented schema
(NDJSON and raw records too: :func:`streams_conform`), and an answer within the time limit.

Scans really run: every pid the generator produces (in the body or the path) is replaced by one
of a few chosen processes — the ``layout`` target, the server itself, a kernel thread, a pid above
``pid_max`` — so that a random pid never touches another process of this machine. A cgroup
summary scans other processes, so it never write-protects (its ``flags`` are dropped). ``/scan``
is asked for each of its formats through ``Accept``.

The server runs with authentication off (auth has its own tests), so the document is loaded
without its security requirements. A valid-looking request may still get 422: the schema cannot
say that ``start`` is page-aligned, below the user address-space limit, or that ``pid`` and
``cgroup`` exclude each other; those rules have their own tests (tests/http/test_validation.py).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case, CheckContext, Response

from tests.stress.marks import FUZZ_FULL_RUN_REQUESTS, full_run_only
from tests.support.layout import Layout
from tests.support.server import ServerProcess

REPO = Path(__file__).resolve().parents[2]
#: Seconds: an answer that takes longer is a hang.
REQUEST_TIMEOUT = 20
RECORD = struct.Struct("<QQQ")
TRAILER_MARK, ERROR_MARK = (1 << 64) - 1, (1 << 64) - 2
ACCEPT = [None, "application/x-ndjson", "application/json", "application/octet-stream", "*/*", "text/html"]
#: Statuses of a valid request that are the server's correct answer (see the module docstring).
ACCEPTED = ["2xx", "401", "403", "404", "406", "409", "410", "413", "422", "501", "503", "504"]


def _document() -> dict[str, Any]:
    """``openapi.json`` (the app's document: tests/test_openapi.py) for a server without auth."""
    document: dict[str, Any] = json.loads((REPO / "openapi.json").read_text())
    for operations in document["paths"].values():
        for operation in operations.values():
            operation.pop("security", None)
    document["components"].pop("securitySchemes", None)
    return document


DOCUMENT = _document()
CONFIG = schemathesis.Config.from_dict(
    {
        "request-timeout": REQUEST_TIMEOUT,
        "generation": {"mode": "all"},
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ACCEPTED},
            # 501 is an answer (this machine lacks what the request needs, e.g. WP_MATCHING on the
            # pagemap backend); one client at a time never meets 503 or 504.
            "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "501"]},
        },
    }
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)

#: The pids a generated request may name, set by the ``fuzzer`` fixture before any case is drawn.
PIDS: list[int] = []


def _is_pid(value: object) -> bool:
    return type(value) is int and 0 < value < 1 << 31


#: The most ticks a generated watch asks for: a valid one runs its ticks back to back once their
#: interval is shorter than a scan, up to the scan timeout past its end. The schedule's own rules
#: have their tests (tests/http/test_watch.py); here each watch is one more request.
WATCH_TICKS = 3


def _aim(case: Case, pid: int, accept: str | None) -> Case:
    if isinstance(case.body, dict):
        if _is_pid(case.body.get("pid")):
            case.body["pid"] = pid
        count = case.body.get("count")
        if case.operation.path == "/watch" and type(count) is int and count > WATCH_TICKS:
            case.body["count"] = WATCH_TICKS
        if case.body.get("cgroup") is not None:
            case.body.pop("flags", None)  # other processes: never write-protect them
    if case.path_parameters and _is_pid(case.path_parameters.get("pid")):
        case.path_parameters["pid"] = pid
    if accept is not None and case.operation.path == "/scan":
        case.headers = {**(case.headers or {}), "Accept": accept}
    return case


@schema.hook
def flatmap_case(context: schemathesis.HookContext, case: Case) -> st.SearchStrategy[Case]:
    return st.builds(_aim, st.just(case), st.sampled_from(PIDS), st.sampled_from(ACCEPT))


def _validator(name: str) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(
        {"$ref": f"#/components/schemas/{name}", "components": DOCUMENT["components"]}
    )


REGION, TRAILER = _validator("Region"), _validator("ScanTrailer")


def streams_conform(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """A 200 from ``/scan`` in a streaming format is complete and well-formed: NDJSON regions
    then a trailer line; 24-byte records then the trailer record, whose count is right."""
    if (
        case.operation.path != "/scan"
        or response.status_code != 200
        or response.content_size > len(response.content)
    ):
        return None
    media = response.headers.get("content-type", [""])[0].split(";")[0]
    body = response.content
    if media == "application/x-ndjson":
        assert body.endswith(b"\n"), "the NDJSON stream does not end with a newline"
        *regions, trailer = [json.loads(line) for line in body.splitlines()]
        for region in regions:
            REGION.validate(region)
        TRAILER.validate(trailer)
        assert trailer["regions"] == len(regions), f"trailer {trailer} after {len(regions)} regions"
    elif media == "application/octet-stream":
        assert len(body) % RECORD.size == 0, f"{len(body)} bytes is not a whole number of records"
        *records, (mark, _walk_end, count) = RECORD.iter_unpack(body)
        assert mark == TRAILER_MARK, f"the last record is not the trailer: {mark:#x}"
        assert count == len(records)
        assert all(start < end and start != ERROR_MARK for start, end, _ in records)
    return True


class Fuzzer:
    """Sends the cases to the server over one keep-alive session, and counts them by run and
    operation."""

    def __init__(self, server: ServerProcess) -> None:
        self.url = server.url
        self.session = requests.Session()
        self.sent: dict[str, dict[str, int]] = {}

    def call(self, run: str, case: Case) -> dict[str, Any]:
        """Send ``case`` and check the answer; what ``run`` sent so far."""
        sent = self.sent.setdefault(run, {})
        sent[case.operation.label] = sent.get(case.operation.label, 0) + 1
        case.call_and_validate(
            base_url=self.url,
            session=self.session,
            timeout=REQUEST_TIMEOUT,
            additional_checks=[streams_conform],
        )
        return {"requests": sum(sent.values()), "by_operation": dict(sent)}


@pytest.fixture(scope="module")
def fuzzer(server: ServerProcess, layout: Layout) -> Iterator[Fuzzer]:
    """The fuzzer, and the pids its cases may name (set before any case is drawn)."""
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    PIDS[:] = [layout.pid, layout.pid, layout.pid, server.pid, 2, pid_max + 1]
    running = Fuzzer(server)
    try:
        yield running
    finally:
        running.session.close()
        PIDS.clear()


HEALTH = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture]


# Derandomized: CI sends the same ~700 requests on every run, so a red CI is a change in the
# server (or the locked fuzzer), never the draw; the full run of make stress explores at random.
@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=HEALTH, derandomize=True)
def test_short(case: Case, fuzzer: Fuzzer, stress_report: dict[str, Any]) -> None:
    stress_report["fuzz_short"] = fuzzer.call("short", case)


@pytest.mark.slow
@full_run_only
@schema.parametrize()
@settings(max_examples=1200, deadline=None, suppress_health_check=HEALTH)
def test_full(case: Case, fuzzer: Fuzzer, stress_report: dict[str, Any]) -> None:
    """At least ``FUZZ_FULL_RUN_REQUESTS`` in all (bench/stress.py checks the count)."""
    stress_report["fuzz"] = fuzzer.call("full", case)
    stress_report["fuzz"]["required"] = FUZZ_FULL_RUN_REQUESTS
