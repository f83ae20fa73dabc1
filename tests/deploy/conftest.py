"""Fixtures of the deployment tests."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.deploy._expected import TARGET_UID


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
