"""Reading deploy/systemd/pmscan.service as systemd would, for the tests."""

from __future__ import annotations

from collections import defaultdict

from tests.deploy._expected import DEPLOY

UNIT = DEPLOY / "systemd" / "pmscan.service"

Unit = dict[str, dict[str, list[str]]]


def parse_unit(text: str) -> Unit:
    """Sections of a unit file, each key with all its assignments in order (systemd keeps repeated
    keys; an empty assignment resets a list, which this unit does not use)."""
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], defaultdict(list))
            continue
        assert section is not None, f"assignment outside a section: {raw!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not an assignment: {raw!r}"
        section[key.strip()].append(value.strip())
    return unit


def service_section() -> dict[str, list[str]]:
    return parse_unit(UNIT.read_text())["Service"]


def ambient_capabilities() -> frozenset[str]:
    """The capabilities the unit gives its non-root user."""
    (value,) = service_section()["AmbientCapabilities"]
    return frozenset(value.split())
