"""deploy/kubernetes: the Kustomize base and the example overlay.

Every manifest is validated offline against the Kubernetes OpenAPI schemas that the kubernetes-validate
package ships (strict: unknown fields fail), then checked for what pmscan needs and must not have.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy._expected import CAPABILITIES, DEPLOY, PORT, SETTINGS

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed"
)
yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")

KUBERNETES = DEPLOY / "kubernetes"
BASE = KUBERNETES / "base"
OVERLAY = KUBERNETES / "overlays" / "example"

# The oldest release with the fields used (securityContext.appArmorProfile is GA in 1.30), and the
# newest whose schemas the installed package has.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())

Manifest = dict[str, Any]


def load_documents(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def base_resources() -> list[Path]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    return [BASE / name for name in kustomization["resources"]]


def base_manifests() -> list[Manifest]:
    return [doc for path in base_resources() for doc in load_documents(path)]


def by_kind(manifests: list[Manifest], kind: str) -> Manifest:
    (found,) = [m for m in manifests if m["kind"] == kind]
    return found


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    return base_manifests()


@pytest.fixture(scope="module")
def pod(manifests: list[Manifest]) -> Manifest:
    spec: Manifest = by_kind(manifests, "DaemonSet")["spec"]["template"]["spec"]
    return spec


@pytest.fixture(scope="module")
def container(pod: Manifest) -> Manifest:
    only: Manifest
    (only,) = pod["containers"]
    return only


def env(container: Manifest) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def validate(manifest: Manifest, version: str) -> None:
    kubernetes_validate.validate(manifest, version, strict=True)


class TestSchemas:
    @pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
    @pytest.mark.parametrize(
        "path",
        [*base_resources(), BASE / "secret.example.yaml"],
        ids=lambda p: str(p.relative_to(KUBERNETES)),
    )
    def test_manifest_is_valid(self, path: Path, version: str) -> None:
        documents = load_documents(path)
        assert documents
        for document in documents:
            validate(document, version)

    def test_kustomization_lists_every_manifest_but_the_example_secret(self) -> None:
        listed = {p.name for p in base_resources()}
        present = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
        assert listed == present - {"secret.example.yaml"}

    def test_every_namespaced_object_is_in_the_namespace(self, manifests: list[Manifest]) -> None:
        namespace = by_kind(manifests, "Namespace")["metadata"]["name"]
        for manifest in manifests:
            if manifest["kind"] != "Namespace":
                assert manifest["metadata"]["namespace"] == namespace, manifest["kind"]


class TestDaemonSet:
    def test_sees_every_process_without_being_privileged(self, pod: Manifest, container: Manifest) -> None:
        assert pod["hostPID"] is True
        assert not pod.get("hostNetwork", False)
        assert not pod.get("hostIPC", False)
        assert not container["securityContext"].get("privileged", False)

    def test_capabilities_are_exactly_the_expected(self, container: Manifest) -> None:
        capabilities = container["securityContext"]["capabilities"]
        assert capabilities["drop"] == ["ALL"]
        assert {f"CAP_{c}" for c in capabilities["add"]} == CAPABILITIES
        assert len(capabilities["add"]) == len(CAPABILITIES)

    def test_security_context(self, pod: Manifest, container: Manifest) -> None:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        # Root with the capabilities above: Kubernetes gives a non-root user no ambient capabilities.
        assert context["runAsUser"] == 0
        # The runtimes' default AppArmor profile refuses ptrace reads of processes outside the container.
        assert context["appArmorProfile"] == {"type": "Unconfined"}

    def test_runs_on_every_node(self, pod: Manifest) -> None:
        assert {"operator": "Exists"} in pod["tolerations"]

    def test_probes_ask_the_server_over_https(self, container: Manifest) -> None:
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"https": PORT}
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = container[probe]["httpGet"]
            assert get["path"] == path
            assert get["scheme"] == "HTTPS"
            assert ports.get(get["port"], get["port"]) == PORT

    def test_server_settings(self, container: Manifest) -> None:
        settings = env(container)
        assert set(settings) <= SETTINGS
        assert settings["PMSCAN_HOST"] == "0.0.0.0"
        assert settings["PMSCAN_PORT"] == str(PORT)
        assert settings.get("PMSCAN_AUTH", "on") == "on"

    def test_token_file_and_tls_come_from_secrets(self, pod: Manifest, container: Manifest) -> None:
        settings = env(container)
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}

        def secret_behind(path: str) -> tuple[str, str]:
            parent, key = path.rsplit("/", 1)
            mount = mounts[parent]
            assert mount["readOnly"] is True
            secret = volumes[mount["name"]]["secret"]
            keys = [item["path"] for item in secret.get("items", [{"path": key}])]
            assert key in keys
            return secret["secretName"], key

        assert secret_behind(settings["PMSCAN_TOKEN_FILE"]) == ("pmscan-tokens", "tokens")
        assert secret_behind(settings["PMSCAN_TLS_CERT"]) == ("pmscan-tls", "tls.crt")
        assert secret_behind(settings["PMSCAN_TLS_KEY"]) == ("pmscan-tls", "tls.key")

    def test_only_tmp_is_writable(self, pod: Manifest, container: Manifest) -> None:
        volumes = {v["name"]: v for v in pod["volumes"]}
        writable = [m for m in container["volumeMounts"] if not m.get("readOnly", False)]
        assert [m["mountPath"] for m in writable] == ["/tmp"]
        assert "emptyDir" in volumes[writable[0]["name"]]

    def test_resources_are_bounded(self, container: Manifest) -> None:
        for bound in ("requests", "limits"):
            assert set(container["resources"][bound]) == {"cpu", "memory"}

    def test_no_kubernetes_api_credentials(self, manifests: list[Manifest], pod: Manifest) -> None:
        account = by_kind(manifests, "ServiceAccount")
        assert pod["serviceAccountName"] == account["metadata"]["name"]
        assert account["automountServiceAccountToken"] is False
        assert pod["automountServiceAccountToken"] is False

    def test_namespace_admits_it(self, manifests: list[Manifest]) -> None:
        labels = by_kind(manifests, "Namespace")["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "privileged"


class TestDiscoveryAndAccess:
    def test_headless_service_selects_the_agents(
        self, manifests: list[Manifest], container: Manifest
    ) -> None:
        service = by_kind(manifests, "Service")["spec"]
        labels = by_kind(manifests, "DaemonSet")["spec"]["template"]["metadata"]["labels"]
        assert service["clusterIP"] == "None"
        assert service["selector"].items() <= labels.items()
        (port,) = service["ports"]
        assert port["port"] == PORT
        assert port["targetPort"] in {p["name"] for p in container["ports"]}

    def test_network_policy_admits_labelled_clients_only(self, manifests: list[Manifest]) -> None:
        policy = by_kind(manifests, "NetworkPolicy")["spec"]
        labels = by_kind(manifests, "DaemonSet")["spec"]["template"]["metadata"]["labels"]
        assert policy["podSelector"]["matchLabels"].items() <= labels.items()
        assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
        assert policy["egress"] == []
        (rule,) = policy["ingress"]
        assert rule["ports"] == [{"protocol": "TCP", "port": PORT}]
        for peer in rule["from"]:
            assert peer["podSelector"]["matchLabels"] == {"pmscan-client": "true"}
            assert peer["namespaceSelector"]["matchLabels"] == {"pmscan-client": "true"}


def kustomize(directory: Path) -> list[Manifest]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


class TestKustomize:
    @pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
    def test_base_builds_to_the_same_valid_objects(self, version: str) -> None:
        built = kustomize(BASE)

        def identity(m: Manifest) -> tuple[str, str]:
            return m["kind"], m["metadata"]["name"]

        assert sorted(built, key=identity) == sorted(base_manifests(), key=identity)
        for manifest in built:
            validate(manifest, version)

    @pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
    def test_overlay_generates_the_mounted_secrets(self, overlay_with_secrets: Path, version: str) -> None:
        built = kustomize(overlay_with_secrets)
        for manifest in built:
            validate(manifest, version)
        secrets = {m["metadata"]["name"]: m for m in built if m["kind"] == "Secret"}
        pod = by_kind(built, "DaemonSet")["spec"]["template"]["spec"]
        mounted = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        assert mounted == set(secrets)
        tls = [s for s in secrets.values() if s["type"] == "kubernetes.io/tls"]
        assert len(tls) == 1
        assert set(tls[0]["data"]) == {"tls.crt", "tls.key"}
        assert pod["priorityClassName"] == "system-node-critical"

    def test_overlay_secrets_stay_out_of_git(self) -> None:
        ignore = (OVERLAY / "secrets" / ".gitignore").read_text().split()
        assert "*" in ignore
