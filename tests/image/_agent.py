"""The agent's container as the DaemonSet runs it, and what it needs: a test CA, tokens made by the
image's own ``token add``, and deploy/kubernetes rendered with an overlay of the test's own.

The overlay (:func:`write_overlay`) is what an operator writes: the base, the Prometheus component
(``PMSCAN_EXPORT_CONTAINERS=true``, the PodMonitor), the image under test (``images:``), the three
Secrets, and a patch that sets ``PMSCAN_EXPORT_GROUPS``. Everything the container runs with comes
from its rendering through :func:`tests.support.kubelet.pod_run`.
"""

from __future__ import annotations

import shutil
import ssl
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.kubelet import PodRun, pod_run
from tests.support.kustomize import Manifest, render
from tests.support.podman import Container, podman
from tests.support.server import free_port

__all__ = ["Agent", "Deployment", "Pki", "exported_containers", "issue_token", "make_pki", "write_overlay"]

REPO = Path(__file__).resolve().parents[2]
# The name the agents' certificate carries and the PodMonitor checks (deploy/README.md, "Install").
SERVICE_NAME = "pmscan.pmscan.svc.cluster.local"


@dataclass(frozen=True)
class Pki:
    """A test CA and the agents' certificate, signed by it for the Service's name and 127.0.0.1."""

    ca: Path
    certificate_chain: str  # tls.crt: the certificate, then the CA's
    key: str  # tls.key


def make_pki(directory: Path) -> Pki:
    import trustme  # noqa: PLC0415 - a test dependency of these tests only

    authority = trustme.CA()
    issued = authority.issue_cert(SERVICE_NAME, "pmscan.pmscan.svc", "localhost", "127.0.0.1")
    ca = directory / "ca.pem"
    authority.cert_pem.write_to_path(str(ca))
    chain = "".join(blob.bytes().decode() for blob in issued.cert_chain_pems)
    return Pki(ca=ca, certificate_chain=chain, key=issued.private_key_pem.bytes().decode())


def issue_token(image: str, directory: Path, name: str, scopes: str) -> str:
    """``pmscan-server token add NAME --scopes SCOPES``, run in the image on ``directory/tokens``
    (created there, hash lines only); returns the token it prints."""
    result = podman(
        "run", "--rm", "--network", "none", "--volume", f"{directory}:/state", image,
        "token", "--token-file", "/state/tokens", "add", name, "--scopes", scopes,
    )  # fmt: skip
    return result.stdout.strip()


def write_overlay(root: Path, image: str, secrets: dict[str, dict[str, str]], env: dict[str, str]) -> Path:
    """A copy of deploy/kubernetes under ``root`` with an overlay ``overlays/image-test``: the base,
    the Prometheus component, ``image``, the Secrets (name -> key -> text; a ``tls.crt`` key makes a
    ``kubernetes.io/tls`` one) and ``env`` set on the container by a patch. Returns the overlay."""
    copy = root / "kubernetes"
    shutil.copytree(REPO / "deploy" / "kubernetes", copy)
    overlay = copy / "overlays" / "image-test"
    overlay.mkdir()
    repository, tag = _split_image(image)
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": ["../../base", "secrets.yaml"],
                "components": ["../../components/prometheus"],
                "images": [{"name": "pmscan", "newName": repository, "newTag": tag}],
                "patches": [{"path": "env.yaml"}],
            }
        )
    )
    documents = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": "pmscan"},
            "type": "kubernetes.io/tls" if "tls.crt" in data else "Opaque",
            "stringData": data,
        }
        for name, data in secrets.items()
    ]
    (overlay / "secrets.yaml").write_text(yaml.safe_dump_all(documents))
    patch = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "pmscan", "namespace": "pmscan"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "pmscan", "env": [{"name": k, "value": v} for k, v in env.items()]}
                    ]
                }
            }
        },
    }
    (overlay / "env.yaml").write_text(yaml.safe_dump(patch))
    return overlay


def _split_image(image: str) -> tuple[str, str]:
    repository, _, tag = image.rpartition(":")
    if not repository or "/" in tag:
        return image, "latest"
    return repository, tag


@dataclass
class Deployment:
    """The objects the overlay renders to."""

    objects: list[Manifest]

    @classmethod
    def render(cls, overlay: Path) -> Deployment:
        return cls(render(overlay))

    def one(self, kind: str) -> Manifest:
        found: Manifest
        (found,) = [m for m in self.objects if m["kind"] == kind]
        return found

    @property
    def pod(self) -> Manifest:
        spec: Manifest = self.one("DaemonSet")["spec"]["template"]["spec"]
        return spec

    @property
    def pod_labels(self) -> dict[str, str]:
        labels: dict[str, str] = self.one("DaemonSet")["spec"]["template"]["metadata"]["labels"]
        return labels

    @property
    def secrets(self) -> list[Manifest]:
        return [m for m in self.objects if m["kind"] == "Secret"]

    def secret(self, name: str) -> Manifest:
        (found,) = [s for s in self.secrets if s["metadata"]["name"] == name]
        return found


class Agent:
    """The DaemonSet's container, run here: ``with Agent(deployment, directory) as agent``.

    On entry it starts the container with the options :func:`pod_run` derives from the rendered
    pod, and waits until the readiness probe answers as the kubelet asks it (same scheme, path and
    port, certificate not verified). :meth:`client` talks to it over HTTPS, verifying the test CA.
    """

    def __init__(
        self, deployment: Deployment, directory: Path, *, ca: Path, ready_timeout: float = 60.0
    ) -> None:
        self.deployment = deployment
        self.ca = ca
        self.name = f"pmscan-test-{uuid.uuid4().hex[:12]}"
        volumes = directory / self.name
        volumes.mkdir(parents=True)
        ports = {p["containerPort"]: free_port() for p in deployment.pod["containers"][0].get("ports", [])}
        self.run: PodRun = pod_run(deployment.pod, deployment.secrets, volumes, ports)
        self.container = Container(self.run.image, self.run.options, self.run.args, name=self.name)
        self._ready_timeout = ready_timeout

    @property
    def port(self) -> int:
        """The loopback port of the container's one port."""
        (port,) = self.run.published.values()
        return port

    @property
    def url(self) -> str:
        assert self.run.readiness is not None
        return f"{self.run.readiness.scheme}://127.0.0.1:{self.port}"

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        verify = ssl.create_default_context(cafile=str(self.ca))
        return httpx.Client(base_url=self.url, headers=headers, verify=verify, timeout=30, **kwargs)

    def start(self) -> Agent:
        self.container.start()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        probe = self.run.readiness
        assert probe is not None, "the DaemonSet has no readiness probe"
        url = probe.url("127.0.0.1", self.port)
        deadline = time.monotonic() + self._ready_timeout
        # The kubelet does not verify the certificate of an HTTPS probe.
        with httpx.Client(verify=False, timeout=probe.timeout_seconds) as kubelet:
            while time.monotonic() < deadline:
                try:
                    if 200 <= kubelet.get(url).status_code < 400:
                        return
                except httpx.TransportError:
                    pass
                if not self.container.running():
                    break
                time.sleep(0.2)
        raise AssertionError(f"{self.name} did not become ready:\n{self.container.logs()}")

    def __enter__(self) -> Agent:
        try:
            return self.start()
        except BaseException:
            self.container.remove()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.container.remove()


def exported_containers(metrics_text: str) -> dict[str, dict[str, str]]:
    """container_id -> labels of the exporter's container series in a /metrics text: what
    Prometheus sees (``GET /containers`` is asked directly in tests/image/test_exporter.py)."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    found: dict[str, dict[str, str]] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name == "pmscan_container_processes":
            for sample in family.samples:
                found[sample.labels["container_id"]] = dict(sample.labels) | {"processes": str(sample.value)}
    return found
