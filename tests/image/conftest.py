"""The image as it really runs: built by ``make image``, run by podman as the DaemonSet runs it.

``make test-image`` runs these tests with ``PMSCAN_IMAGE`` naming the image it built; without it
they are skipped (``make test`` does not build images). With it, a missing image or a podman that
cannot run fails them: make test-image has already skipped them where podman cannot run at all.

Session fixtures: the test CA and certificate, two tokens made by the image's own ``token add``
(``admin``, read and write, for the tests; ``prometheus``, read, for the scrape), the overlay's
rendering, and one agent that the tests share. Tests that stop an agent start their own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy._expected import TARGET_UID
from tests.image._agent import Agent, Deployment, Pki, issue_token, make_pki, write_overlay
from tests.support.podman import cannot_run, image_exists

IMAGE = os.environ.get("PMSCAN_IMAGE", "")
# What the overlay sets: a process group, and values served no older than a second, so that the
# tests see a process soon after it starts (the image's default is 10 s). The group's processes are
# the targets of tests/image run under a name of this session's own: the agent sees every process of
# the host, other test runs' targets too.
GROUP_COMM = f"pmimage-{uuid.uuid4().hex[:6]}"
OVERLAY_ENV = {
    "PMSCAN_EXPORT_GROUPS": json.dumps({"targets": {"comm": GROUP_COMM}}),
    "PMSCAN_EXPORT_MAX_AGE_SECONDS": "1",
}
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.image)
            if not IMAGE:
                item.add_marker(
                    pytest.mark.skip(reason="make test-image runs these (PMSCAN_IMAGE names the image)")
                )


@pytest.fixture(scope="session")
def image() -> str:
    reason = cannot_run()
    assert reason is None, f"podman cannot run a container here: {reason}"
    assert image_exists(IMAGE), f"no image {IMAGE} (make image builds it)"
    return IMAGE


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def tokens(image: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Token name -> token; the hash lines are in ``tokens["file"]``'s text."""
    directory = tmp_path_factory.mktemp("tokens")
    made = {
        "admin": issue_token(image, directory, "admin", "read,write"),
        "prometheus": issue_token(image, directory, "prometheus", "read"),
    }
    return made | {"file": (directory / "tokens").read_text()}


@pytest.fixture(scope="session")
def deployment(
    image: str, pki: Pki, tokens: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Deployment:
    secrets = {
        "pmscan-tokens": {"tokens": tokens["file"]},
        "pmscan-tls": {"tls.crt": pki.certificate_chain, "tls.key": pki.key},
        "pmscan-scrape-token": {"token": tokens["prometheus"]},
    }
    overlay = write_overlay(tmp_path_factory.mktemp("kustomize"), image, secrets, OVERLAY_ENV)
    return Deployment.render(overlay)


@pytest.fixture(scope="session")
def volumes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("volumes")


@pytest.fixture(scope="session")
def agent(deployment: Deployment, volumes: Path, pki: Pki) -> Iterator[Agent]:
    with Agent(deployment, volumes, ca=pki.ca) as running:
        yield running


@pytest.fixture(scope="session")
def admin(tokens: dict[str, str]) -> str:
    return tokens["admin"]


@pytest.fixture
def other_users_process() -> Iterator[int]:
    """The pid of a process of another user (uid 4242, no capabilities)."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    process = subprocess.Popen(
        [
            "setpriv", f"--reuid={TARGET_UID}", f"--regid={TARGET_UID}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "sleep", "120",
        ]
    )  # fmt: skip
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def group_binary(target_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The target program under the name the overlay's group matches (its comm)."""
    copy = tmp_path_factory.mktemp("group") / GROUP_COMM
    shutil.copy2(target_binary, copy)
    return copy
