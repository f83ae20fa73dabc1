"""deploy/kubernetes/components/prometheus: the PodMonitor and PrometheusRule for prometheus-operator.

Validated offline against the CRDs' schemas: the cloudcoil-models-prometheus-operator package holds
models generated from prometheus-operator's CRD schemas; their JSON Schema is made strict (unknown
fields fail, as kubernetes-validate's strict schemas do) and checked with jsonschema. Then what the
scrape needs: the agents' port and labels, a bearer token with the read scope from a Secret, the
agent's certificate checked, a timeout above the collection's budget, and Secret references that
kustomize rewrites when an overlay generates the Secrets.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings
from tests.deploy.test_kubernetes import (
    BASE,
    KUBERNETES,
    KUBERNETES_VERSIONS,
    Manifest,
    base_manifests,
    by_kind,
    kustomize,
    load_documents,
    validate,
    yaml,
)

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed")
operator = pytest.importorskip(
    "cloudcoil.models.prometheus_operator.v1", reason="cloudcoil-models-prometheus-operator is not installed"
)

COMPONENT = KUBERNETES / "components" / "prometheus"
# The name the agents' certificate carries (deploy/README.md, "Install").
CERTIFICATE_NAME = "pmscan.pmscan.svc.cluster.local"


def component_resources() -> list[Path]:
    kustomization = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())
    return [COMPONENT / name for name in kustomization["resources"]]


def strict(schema: Any) -> None:
    """Make every object schema that lists its properties refuse others, in place; and write the
    CRDs' Go (RE2) patterns as Python's re reads them: a flag group such as ``(?i)`` may stand
    anywhere in RE2, in Python only at the start."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and pattern.startswith("^(?i)"):
            schema["pattern"] = "(?i)^" + pattern.removeprefix("^(?i)")
        for value in schema.values():
            strict(value)
    elif isinstance(schema, list):
        for value in schema:
            strict(value)


@pytest.fixture(scope="module")
def crd_validators() -> dict[str, Any]:
    """Strict validators of the two kinds, by kind."""
    validators = {}
    for kind in ("PodMonitor", "PrometheusRule"):
        schema = getattr(operator, kind).model_json_schema(by_alias=True)
        strict(schema)
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
        validators[kind] = validator_class(schema)
    return validators


def validate_custom(manifest: Manifest, validators: dict[str, Any]) -> None:
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    validators[manifest["kind"]].validate(manifest)


@pytest.fixture(scope="module")
def pod_monitor() -> Manifest:
    (found,) = load_documents(COMPONENT / "podmonitor.yaml")
    return found


@pytest.fixture(scope="module")
def endpoint(pod_monitor: Manifest) -> Manifest:
    only: Manifest
    (only,) = pod_monitor["spec"]["podMetricsEndpoints"]
    return only


class TestSchemas:
    @pytest.mark.parametrize("path", component_resources(), ids=lambda p: p.name)
    def test_manifest_is_valid(self, path: Path, crd_validators: dict[str, Any]) -> None:
        (manifest,) = load_documents(path)
        validate_custom(manifest, crd_validators)

    def test_kustomization_lists_every_manifest(self) -> None:
        listed = {p.name for p in component_resources()}
        kustomization = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())
        listed |= {patch["path"] for patch in kustomization["patches"]}
        listed |= set(kustomization["configurations"])
        present = {p.name for p in COMPONENT.glob("*.yaml")} - {"kustomization.yaml"}
        assert listed == present

    @pytest.mark.parametrize(
        ("path", "change"),
        [
            (("spec", "podMetricsEndpoints", 0), {"bearerTokenFiel": "/token"}),
            (("spec", "podMetricsEndpoints", 0), {"scheme": "HTTPS"}),
            (("spec", "podMetricsEndpoints", 0), {"interval": "30 seconds"}),
            (("spec", "podMetricsEndpoints", 0, "authorization", "credentials"), {"key": 7}),
            (("spec",), {"selectors": {}}),
        ],
        ids=["unknown field", "scheme not in the enum", "not a duration", "key not a string", "typo"],
    )
    def test_the_validation_refuses_a_broken_monitor(
        self,
        pod_monitor: Manifest,
        crd_validators: dict[str, Any],
        path: tuple[str | int, ...],
        change: dict[str, Any],
    ) -> None:
        broken = yaml.safe_load(yaml.safe_dump(pod_monitor))
        node = broken
        for key in path:
            node = node[key]
        node.update(change)
        with pytest.raises(jsonschema.ValidationError):
            validate_custom(broken, crd_validators)

    @pytest.mark.parametrize(
        "path",
        [("spec", "selector"), ("spec", "podMetricsEndpoints", 0, "authorization", "credentials", "key")],
        ids=["no selector", "no key of the token's Secret"],
    )
    def test_the_validation_refuses_a_monitor_missing_a_required_field(
        self, pod_monitor: Manifest, crd_validators: dict[str, Any], path: tuple[str | int, ...]
    ) -> None:
        broken = yaml.safe_load(yaml.safe_dump(pod_monitor))
        node = broken
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
        with pytest.raises(jsonschema.ValidationError):
            validate_custom(broken, crd_validators)

    def test_the_validation_refuses_a_broken_rule(self, crd_validators: dict[str, Any]) -> None:
        (rule,) = load_documents(COMPONENT / "prometheusrule.yaml")
        rule["spec"]["groups"][0]["rules"][0]["expresion"] = "up"
        with pytest.raises(jsonschema.ValidationError):
            validate_custom(rule, crd_validators)


class TestScrape:
    def test_selects_the_agents_on_their_named_port(self, pod_monitor: Manifest, endpoint: Manifest) -> None:
        daemonset = by_kind(load_documents(BASE / "daemonset.yaml"), "DaemonSet")
        template = daemonset["spec"]["template"]
        assert pod_monitor["metadata"]["namespace"] == daemonset["metadata"]["namespace"]
        selector = pod_monitor["spec"]["selector"]["matchLabels"]
        assert selector.items() <= template["metadata"]["labels"].items()
        (container,) = template["spec"]["containers"]
        assert endpoint["port"] in {p["name"] for p in container["ports"]}
        assert endpoint["path"] == "/metrics"
        assert endpoint["scheme"] == "https"

    def test_authenticates_with_a_token_from_a_secret(self, endpoint: Manifest) -> None:
        assert endpoint["authorization"] == {
            "type": "Bearer",
            "credentials": {"name": "pmscan-scrape-token", "key": "token"},
        }
        assert "bearerTokenSecret" not in endpoint  # deprecated in prometheus-operator

    def test_checks_the_agents_certificate(self, endpoint: Manifest) -> None:
        tls = endpoint["tlsConfig"]
        assert not tls.get("insecureSkipVerify", False)
        assert tls["ca"] == {"secret": {"name": "pmscan-tls", "key": "tls.crt"}}
        assert tls["serverName"] == CERTIFICATE_NAME
        assert CERTIFICATE_NAME in (KUBERNETES.parent / "README.md").read_text()

    def test_waits_longer_than_a_collection_may_take(self, endpoint: Manifest) -> None:
        def seconds(duration: str) -> float:
            assert duration.endswith("s")
            return float(duration[:-1])

        budget = Settings.model_fields["export_budget_seconds"].default
        assert seconds(endpoint["scrapeTimeout"]) > budget
        assert seconds(endpoint["interval"]) >= seconds(endpoint["scrapeTimeout"])


def add_component(kustomization: Path, *, scrape_token: str | None) -> None:
    """Do to an overlay what deploy/README.md says: add the component (and, with ``scrape_token``,
    a file in secrets/, generate the Secret of the scrape token)."""
    document = yaml.safe_load(kustomization.read_text())
    document["components"] = ["../../components/prometheus"]
    if scrape_token is not None:
        (kustomization.parent / "secrets" / "scrape.token").write_text(scrape_token)
        document["secretGenerator"].append(
            {"name": "pmscan-scrape-token", "namespace": "pmscan", "files": ["token=secrets/scrape.token"]}
        )
    kustomization.write_text(yaml.safe_dump(document, sort_keys=False))


def secret_references(built: list[Manifest]) -> set[str]:
    (endpoint,) = by_kind(built, "PodMonitor")["spec"]["podMetricsEndpoints"]
    return {endpoint["authorization"]["credentials"]["name"], endpoint["tlsConfig"]["ca"]["secret"]["name"]}


@pytest.fixture
def base_with_component(tmp_path: Path) -> Path:
    """An overlay of a copy of deploy/kubernetes: the base and the component, Secrets made by hand."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, copy)
    overlay = copy / "overlays" / "monitored"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources:\n  - ../../base\ncomponents:\n  - ../../components/prometheus\n"
    )
    return overlay


class TestKustomize:
    def test_base_with_the_component(self, base_with_component: Path, crd_validators: dict[str, Any]) -> None:
        built = kustomize(base_with_component)
        kinds = sorted(m["kind"] for m in built)
        assert kinds.count("PodMonitor") == kinds.count("PrometheusRule") == 1
        for manifest in built:
            if manifest["apiVersion"].startswith("monitoring.coreos.com/"):
                validate_custom(manifest, crd_validators)
        # The Secrets made by hand keep their names.
        assert secret_references(built) == {"pmscan-scrape-token", "pmscan-tls"}

    def test_agents_export_containers(self, base_with_component: Path) -> None:
        built = kustomize(base_with_component)
        (container,) = by_kind(built, "DaemonSet")["spec"]["template"]["spec"]["containers"]
        environment = {e["name"]: e.get("value") for e in container["env"]}
        assert environment["PMSCAN_EXPORT_CONTAINERS"] == "true"
        # The base's settings are all still there, and every name is one the server reads.
        (base,) = by_kind(base_manifests(), "DaemonSet")["spec"]["template"]["spec"]["containers"]
        assert {e["name"] for e in base["env"]} < set(environment)
        known = {f"PMSCAN_{name.upper()}" for name in Settings.model_fields}
        assert set(environment) <= known
        assert Settings(export_containers=environment["PMSCAN_EXPORT_CONTAINERS"]).export_containers

    @pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
    def test_overlay_rewrites_the_generated_secrets(
        self, overlay_with_secrets: Path, crd_validators: dict[str, Any], version: str
    ) -> None:
        add_component(overlay_with_secrets / "kustomization.yaml", scrape_token="pmscan_example\n")
        built = kustomize(overlay_with_secrets)
        secrets = {m["metadata"]["name"] for m in built if m["kind"] == "Secret"}
        references = secret_references(built)
        assert references <= secrets
        assert all(name.startswith(("pmscan-scrape-token-", "pmscan-tls-")) for name in references)
        for manifest in built:
            if manifest["apiVersion"].startswith("monitoring.coreos.com/"):
                validate_custom(manifest, crd_validators)
            else:
                validate(manifest, version)

    def test_the_rule_of_the_build_is_the_rules_file(self, base_with_component: Path) -> None:
        rule = by_kind(kustomize(base_with_component), "PrometheusRule")
        rules_file = yaml.safe_load((KUBERNETES.parent / "prometheus" / "pmscan.rules.yml").read_text())
        assert rule["spec"] == rules_file
