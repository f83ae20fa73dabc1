"""docs/configuration.md is what ``make docs`` writes from the Settings class, to the byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.settings import Settings, variable
from app.settings_reference import render

REPO = Path(__file__).resolve().parents[2]
DOCUMENT = REPO / "docs" / "configuration.md"


class TestConfigurationReference:
    def test_the_document_is_the_generators_output(self) -> None:
        assert DOCUMENT.read_text() == render(), (
            "docs/configuration.md differs from the Settings class: run `make docs` and commit it"
        )

    def test_make_docs_command_writes_the_same(self) -> None:
        """The command the Makefile's ``docs`` target runs prints exactly :func:`render`."""
        printed = subprocess.run(
            [sys.executable, "-m", "app.settings_reference"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert printed == render()

    def test_every_setting_has_a_row(self) -> None:
        rows = [line for line in DOCUMENT.read_text().splitlines() if line.startswith("| `PMSCAN_")]
        named = [row.split("`")[1] for row in rows]
        assert named == [variable(name) for name in Settings.model_fields]
