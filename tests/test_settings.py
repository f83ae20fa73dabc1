"""A bad ``PMSCAN_*`` variable stops ``pmscan-server`` with one line that names it.

The line names the variable as the user wrote it (not pydantic's field name), the value, and what
is allowed; nothing of pydantic's report (its error count, type names, links) reaches the user.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from app.settings import Settings, allowed, variable
from tests.support.server import server_executable

#: (variable, value, what the line must say is allowed).
BAD = [
    ("PMSCAN_AUTH", "maybe", "must be on or off"),
    ("PMSCAN_PORT", "x", "must be an integer from 0 to 65535"),
    ("PMSCAN_PORT", "70000", "must be an integer from 0 to 65535"),
    ("PMSCAN_WORKERS", "0", "must be an integer from 1 to 256"),
    ("PMSCAN_QUEUE_SECONDS", "-1", "must be a number above 0, at most 60"),
    ("PMSCAN_EXPORT_CONTAINERS", "perhaps", "must be true or false"),
    ("PMSCAN_LOG_LEVEL", "loud", "must be critical, error, warning, info, debug or trace"),
    ("PMSCAN_DENY_PIDS", "x", "must be a JSON list of integers"),  # not JSON: pydantic-settings' own error
    ("PMSCAN_DENY_PIDS", '["a"]', "must be a JSON list of integers"),
    ("PMSCAN_EXPORT_GROUPS", "{bad", "not JSON"),
    ("PMSCAN_EXPORT_GROUPS", '{"a": {"foo": "x"}}', "expected a JSON object"),
    ("PMSCAN_EXPORT_CATEGORIES", "present,foo", "unknown category 'foo'; known: "),
]


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PMSCAN_")}
    return subprocess.run(
        [server_executable()], env=clean | env, capture_output=True, text=True, timeout=60, check=False
    )


class TestStartUpErrors:
    @pytest.mark.parametrize(("name", "value", "expected"), BAD, ids=[f"{n}={v}" for n, v, _ in BAD])
    def test_one_line_names_the_variable_its_value_and_what_is_allowed(
        self, name: str, value: str, expected: str
    ) -> None:
        run = _start({name: value})
        assert run.returncode == 2
        assert run.stdout == ""
        (line,) = run.stderr.splitlines()
        assert line.startswith(f"pmscan-server: {name}=")
        assert value in line
        assert expected in line
        for noise in ("validation error", "pydantic", "type=", "input_value", "For further information"):
            assert noise not in line

    def test_a_bad_combination_names_the_variables(self) -> None:
        run = _start({"PMSCAN_HOST": "0.0.0.0", "PMSCAN_AUTH": "off"})
        assert run.returncode == 2
        (line,) = run.stderr.splitlines()
        assert line.startswith("pmscan-server: refusing to listen on 0.0.0.0 without authentication")
        assert "PMSCAN_AUTH" in line

    def test_each_bad_variable_has_its_line(self) -> None:
        run = _start({"PMSCAN_AUTH": "maybe", "PMSCAN_PORT": "x"})
        assert run.returncode == 2
        assert sorted(run.stderr.splitlines()) == [
            "pmscan-server: PMSCAN_AUTH=maybe: must be on or off",
            "pmscan-server: PMSCAN_PORT=x: must be an integer from 0 to 65535",
        ]


class TestAllowed:
    """Every field has words for what it accepts (the error lines and docs/configuration.md use them)."""

    @pytest.mark.parametrize("name", list(Settings.model_fields))
    def test_every_field_is_described(self, name: str) -> None:
        assert allowed(name)
        assert "<" not in allowed(name), "a type without words: add it to app.settings._kind"
        assert Settings.model_fields[name].description
        assert variable(name) == "PMSCAN_" + name.upper()
