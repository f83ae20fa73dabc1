"""What prometheus-operator would write for the PodMonitor: a Prometheus scrape job of the agent.

The job takes the endpoint's scheme, path, timeout, bearer token (the Secret's key, as a file),
certificate check (the Secret's CA, the server name) and relabelings from the rendered PodMonitor;
the target is the agent's published port, with the Kubernetes service discovery label the
relabelings read (``__meta_kubernetes_pod_node_name``) set as that discovery would set it. The one
change: the interval, 30 s in the PodMonitor, is 10 s here, so that a first scrape comes soon.
Fields the translation does not know fail it, as the pod's do in tests.support.kubelet.
"""

from __future__ import annotations

import base64
import socket
from pathlib import Path
from typing import Any

from tests.image._agent import Agent, Deployment

__all__ = ["TEST_INTERVAL", "scrape_job"]

TEST_INTERVAL = "10s"
_ENDPOINT_KNOWN = {
    "port",
    "path",
    "scheme",
    "interval",
    "scrapeTimeout",
    "authorization",
    "tlsConfig",
    "relabelings",
}
_RELABEL_KEYS = {
    "sourceLabels": "source_labels",
    "separator": "separator",
    "targetLabel": "target_label",
    "regex": "regex",
    "modulus": "modulus",
    "replacement": "replacement",
    "action": "action",
}


def scrape_job(deployment: Deployment, agent: Agent, directory: Path) -> dict[str, Any]:
    """The scrape job of the rendered PodMonitor for ``agent``; Secret files go to ``directory``."""
    monitor = deployment.one("PodMonitor")
    spec = monitor["spec"]
    selector = spec["selector"]["matchLabels"]
    assert selector.items() <= deployment.pod_labels.items(), "the PodMonitor selects no agent pod"
    (endpoint,) = spec["podMetricsEndpoints"]
    unknown = set(endpoint) - _ENDPOINT_KNOWN
    assert not unknown, f"PodMonitor endpoint fields with no translation: {sorted(unknown)}"
    (container,) = deployment.pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    host_port = agent.run.published[ports[endpoint["port"]]]

    authorization = endpoint["authorization"]
    token = _secret_file(deployment, authorization["credentials"], directory / "token")
    tls = endpoint["tlsConfig"]
    ca = _secret_file(deployment, tls["ca"]["secret"], directory / "ca.crt")
    metadata = monitor["metadata"]
    return {
        "job_name": f"podMonitor/{metadata['namespace']}/{metadata['name']}/0",
        "scheme": endpoint["scheme"],
        "metrics_path": endpoint["path"],
        "scrape_interval": TEST_INTERVAL,
        "scrape_timeout": endpoint["scrapeTimeout"],
        "authorization": {"type": authorization["type"], "credentials_file": str(token)},
        "tls_config": {"ca_file": str(ca), "server_name": tls["serverName"]},
        "static_configs": [
            {
                "targets": [f"127.0.0.1:{host_port}"],
                "labels": {"__meta_kubernetes_pod_node_name": socket.gethostname()},
            }
        ],
        "relabel_configs": [
            {_RELABEL_KEYS[key]: value for key, value in rule.items()}
            for rule in endpoint.get("relabelings", [])
        ],
    }


def _secret_file(deployment: Deployment, reference: dict[str, str], path: Path) -> Path:
    """The key of a Secret, written to ``path``, as prometheus-operator reads it for Prometheus."""
    secret = deployment.secret(reference["name"])
    key = reference["key"]
    if key in secret.get("stringData", {}):
        path.write_text(secret["stringData"][key])
    else:
        path.write_bytes(base64.b64decode(secret["data"][key]))
    return path
