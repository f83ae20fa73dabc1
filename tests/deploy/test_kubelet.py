"""tests/support/kubelet.py: the DaemonSet's pod as the image tests run it with podman.

The image tests (tests/image, ``make test-image``) take every option of their ``podman run`` from
this translation of the rendered manifest. Here, without podman: what the base's DaemonSet becomes,
and that a field without a translation fails instead of being dropped.
"""

from __future__ import annotations

import copy
import http.server
import itertools
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tests.deploy._expected import CAPABILITIES, PORT
from tests.deploy.test_container import handler, serving
from tests.deploy.test_kubernetes import BASE, by_kind
from tests.support.kubelet import PodRun, pod_run, quantity
from tests.support.kustomize import read

TOKENS = {"tokens": "admin read,write sha256:" + "0" * 64 + "\n"}
TLS = {"tls.crt": "certificate\n", "tls.key": "key\n"}


def secrets() -> list[dict[str, Any]]:
    return [
        {"kind": "Secret", "metadata": {"name": "pmscan-tokens"}, "stringData": TOKENS},
        {"kind": "Secret", "metadata": {"name": "pmscan-tls"}, "stringData": TLS},
    ]


@pytest.fixture(scope="module")
def pod() -> dict[str, Any]:
    spec: dict[str, Any] = by_kind(read(BASE), "DaemonSet")["spec"]["template"]["spec"]
    return spec


def translate(pod: dict[str, Any], directory: Path) -> PodRun:
    return pod_run(pod, secrets(), directory, {PORT: 40000})


def pairs(options: list[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(options))


class TestTheBaseDaemonSet:
    def test_namespaces_and_port(self, pod: dict[str, Any], tmp_path: Path) -> None:
        run = translate(pod, tmp_path)
        assert ("--pid", "host") in pairs(run.options)
        assert "--network" not in run.options  # no hostNetwork: a port published on loopback
        assert ("--publish", f"127.0.0.1:40000:{PORT}/tcp") in pairs(run.options)
        assert run.published == {PORT: 40000}

    def test_security_context(self, pod: dict[str, Any], tmp_path: Path) -> None:
        options = translate(pod, tmp_path).options
        assert ("--user", "0:0") in pairs(options)
        assert ("--security-opt", "no-new-privileges") in pairs(options)
        assert ("--security-opt", "apparmor=unconfined") in pairs(options)
        assert "--read-only" in options
        assert "--read-only-tmpfs=false" in options
        assert "--privileged" not in options
        assert [v for k, v in pairs(options) if k == "--cap-drop"] == ["all"]
        added = {f"CAP_{v.upper()}" for k, v in pairs(options) if k == "--cap-add"}
        assert added == CAPABILITIES

    def test_environment_as_the_kubelet_computes_it(self, pod: dict[str, Any], tmp_path: Path) -> None:
        environment = translate(pod, tmp_path).environment
        assert environment["PMSCAN_WORKERS"] == "2"  # limits.cpu 1 over the divisor 500m
        assert environment["PMSCAN_TOKEN_FILE"] == "/etc/pmscan/tokens/tokens"

    def test_resources(self, pod: dict[str, Any], tmp_path: Path) -> None:
        options = pairs(translate(pod, tmp_path).options)
        assert {("--cpus", "1.0"), ("--memory", str(256 << 20)), ("--cpu-shares", "51")} <= options

    def test_secrets_laid_out_as_the_kubelet_does(self, pod: dict[str, Any], tmp_path: Path) -> None:
        options = translate(pod, tmp_path).options
        mounts = [v for k, v in pairs(options) if k == "--mount"]
        assert f"type=bind,source={tmp_path / 'tokens'},destination=/etc/pmscan/tokens,ro" in mounts
        assert "type=tmpfs,destination=/tmp,tmpfs-mode=1777,tmpfs-size=16777216" in mounts
        token_file = tmp_path / "tokens" / "tokens"
        assert os.readlink(token_file) == "..data/tokens"
        assert token_file.read_text() == TOKENS["tokens"]
        assert token_file.stat().st_mode & 0o777 == 0o400
        assert sorted(p.name for p in (tmp_path / "tls").iterdir() if not p.name.startswith("..")) == [
            "tls.crt",
            "tls.key",
        ]

    def test_probes_and_grace(self, pod: dict[str, Any], tmp_path: Path) -> None:
        run = translate(pod, tmp_path)
        assert run.grace_seconds == 10
        assert run.readiness is not None
        assert run.readiness.url("127.0.0.1") == f"https://127.0.0.1:{PORT}/readyz"
        assert run.liveness is not None
        assert (run.liveness.path, run.liveness.period_seconds) == ("/healthz", 20)
        assert ("--health-interval", "20s") in pairs(run.options)
        assert ("--health-start-period", "10s") in pairs(run.options)


class TestRefusals:
    @pytest.mark.parametrize(
        ("where", "change"),
        [
            ((), {"hostUsers": False}),
            ((), {"automountServiceAccountToken": True}),
            (("containers", 0), {"lifecycle": {"preStop": {"exec": {"command": ["true"]}}}}),
            (("containers", 0, "securityContext"), {"procMount": "Unmasked"}),
            (("containers", 0, "securityContext", "seccompProfile"), {"type": "Localhost"}),
            (("volumes", 0), {"secret": None, "hostPath": {"path": "/"}}),
            (
                ("containers", 0, "env", 0),
                {"value": None, "valueFrom": {"secretKeyRef": {"name": "x", "key": "y"}}},
            ),
            (("containers", 0, "livenessProbe"), {"httpGet": None, "exec": {"command": ["true"]}}),
        ],
        ids=[
            "pod field",
            "token mounted",
            "container field",
            "security field",
            "seccomp",
            "volume",
            "env",
            "probe",
        ],
    )
    def test_an_untranslated_field_fails(
        self, pod: dict[str, Any], tmp_path: Path, where: tuple[Any, ...], change: dict[str, Any]
    ) -> None:
        changed = copy.deepcopy(pod)
        node = changed
        for key in where:
            node = node[key]
        for key, value in change.items():
            if value is None:
                del node[key]
            else:
                node[key] = value
        with pytest.raises((ValueError, KeyError)):
            translate(changed, tmp_path)


class TestQuantity:
    @pytest.mark.parametrize(
        ("text", "value"),
        [("500m", Fraction(1, 2)), ("1", 1), ("2.5", Fraction(5, 2)), ("256Mi", 256 << 20), ("1G", 10**9)],
    )
    def test_parses(self, text: str, value: Fraction) -> None:
        assert quantity(text) == value


class TestHealthCommand:
    """The liveness probe's command, run here against a server that answers as the agent may."""

    @pytest.mark.parametrize(("status", "exit_code"), [(200, 0), (204, 0), (503, 1)])
    def test_status(self, pod: dict[str, Any], tmp_path: Path, status: int, exit_code: int) -> None:
        options = translate(pod, tmp_path).options
        (command,) = [v for k, v in pairs(options) if k == "--health-cmd"]
        argv = json.loads(command)
        assert argv[0] == "python"
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler(status))
        url = f"http://127.0.0.1:{server.server_address[1]}/healthz"
        with serving(server):
            result = subprocess.run(
                [sys.executable, *argv[1:3], url, argv[4]], capture_output=True, check=False, timeout=30
            )
        assert result.returncode == exit_code
