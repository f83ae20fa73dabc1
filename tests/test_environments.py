"""The two environments of the Makefile: what ``make serve`` builds serves and cannot develop.

A node needs the server and the ``pmscan`` command, not the test and lint tools; and the
development build's ``-Werror`` must not reach a user's compiler. The serving environment is built
by the Makefile's own target, pointed at a temporary directory through its ``VENV`` variable.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: What only development needs: none of it may be importable where the server runs.
DEVELOPMENT_ONLY = ("pytest", "ruff", "mypy", "schemathesis", "hypothesis")
#: What serving needs: the server's entry point, the SDK and its CLI.
SERVING = ("app.server", "pmscan_client", "pmscan_client.cli.main")


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    # Without the variables of a make that may run these tests (make test VENV=...).
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def _importable(python: Path, module: str, cwd: Path) -> bool:
    """Whether ``python`` imports ``module``, run outside the checkout (whose ``app/`` would
    otherwise be found on ``sys.path[0]``)."""
    run = subprocess.run([python, "-c", f"import {module}"], cwd=cwd, capture_output=True, check=False)
    return run.returncode == 0


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The serving environment, built by ``make serve-venv`` (what ``make serve`` runs first)."""
    venv = tmp_path_factory.mktemp("serving") / "venv"
    built = _make("serve-venv", f"VENV={venv}")
    assert built.returncode == 0, built.stdout + built.stderr
    return venv


@pytest.mark.slow
class TestServingEnvironment:
    @pytest.mark.parametrize("module", DEVELOPMENT_ONLY)
    def test_development_tools_are_not_importable(self, venv: Path, module: str, tmp_path: Path) -> None:
        assert not _importable(venv / "bin" / "python", module, tmp_path)

    @pytest.mark.parametrize("module", SERVING)
    def test_the_server_and_the_client_are(self, venv: Path, module: str, tmp_path: Path) -> None:
        assert _importable(venv / "bin" / "python", module, tmp_path)

    @pytest.mark.parametrize("command", ["pmscan-server", "pmscan"])
    def test_both_commands_run(self, venv: Path, command: str, tmp_path: Path) -> None:
        run = subprocess.run(
            [venv / "bin" / command, "--help"], cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert run.returncode == 0, run.stderr
        assert "usage:" in run.stdout.lower()

    def test_activate_puts_both_commands_on_path(self, venv: Path, tmp_path: Path) -> None:
        """The README's second terminal: ``. .venv/bin/activate``, then ``pmscan-server`` and
        ``pmscan`` as printed."""
        script = f". {venv}/bin/activate && command -v pmscan-server && command -v pmscan"
        run = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.split() == [str(venv / "bin" / "pmscan-server"), str(venv / "bin" / "pmscan")]

    def test_the_server_is_a_copy_not_the_checkout(self, venv: Path, tmp_path: Path) -> None:
        """.venv holds an install of its own: the serving interpreter does not load the tree (and
        the extension) that the development build rewrites in place."""
        where = subprocess.run(
            [venv / "bin" / "python", "-c", "import app.pagemap._pagemap as m; print(m.__file__)"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert Path(where).is_relative_to(venv)


class TestWarningsAsErrors:
    """-Werror in the development build only (a dry run of each, forced to rebuild)."""

    def test_not_in_the_serving_build(self, tmp_path: Path) -> None:
        plan = _make("-n", "-B", "serve-venv", f"VENV={tmp_path / 'venv'}")
        assert plan.returncode == 0, plan.stderr
        assert "pip install" in plan.stdout
        assert "Werror" not in plan.stdout

    def test_in_the_development_build(self, tmp_path: Path) -> None:
        plan = _make("-n", "-B", "dev-venv", f"DEV_VENV={tmp_path / 'venv'}")
        assert plan.returncode == 0, plan.stderr
        (editable,) = [line for line in plan.stdout.splitlines() if " -e . " in line]
        assert "-Werror" in editable

    def test_not_exported_to_the_server(self, tmp_path: Path) -> None:
        """``make serve`` runs the server without the development compiler flags in its
        environment: here a stand-in server in an up-to-date stand-in venv prints it."""
        bin_dir = tmp_path / "venv" / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "python").touch()
        server = bin_dir / "pmscan-server"
        server.write_text('#!/bin/sh\necho "CFLAGS=[$CFLAGS]"\n')
        server.chmod(0o755)
        stamp = tmp_path / "venv" / ".pmscan-installed"
        stamp.touch()
        os.utime(stamp, (2**31, 2**31))  # newer than every source: nothing to rebuild
        run = _make("serve", f"VENV={tmp_path / 'venv'}")
        assert run.returncode == 0, run.stderr
        (printed,) = [line for line in run.stdout.splitlines() if line.startswith("CFLAGS=")]
        assert "Werror" not in printed
