"""Fixtures of the deployment tests."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy._expected import DEPLOY, TARGET_UID


@pytest.fixture
def other_users_process() -> Iterator[subprocess.Popen[bytes]]:
    """A process of another user (uid 4242, no capabilities): the kind of target the service meets."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    proc = subprocess.Popen(
        [
            "setpriv", f"--reuid={TARGET_UID}", f"--regid={TARGET_UID}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "sleep", "120",
        ]
    )  # fmt: skip
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def overlay_with_secrets(tmp_path: Path) -> Path:
    """A copy of deploy/kubernetes with stand-ins for the files the operator puts in the example
    overlay's secrets/; the copy's overlay directory."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(DEPLOY / "kubernetes", copy)
    secrets = copy / "overlays" / "example" / "secrets"
    (secrets / "tokens").write_text("fleet read sha256:" + "0" * 64 + "\n")
    (secrets / "tls.crt").write_text("certificate\n")
    (secrets / "tls.key").write_text("key\n")
    return copy / "overlays" / "example"
