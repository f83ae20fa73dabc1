"""What the kubelet would make of a pod, as ``podman run`` options: the image tests run the agent's
container from the DaemonSet as it is rendered, never from a copy of its settings.

:func:`pod_run` takes the pod template of a rendered DaemonSet (and the Secrets it mounts, from
the same rendering) and returns a :class:`PodRun`: the options of ``podman run``, the image, the
probes and the grace period. Each field of the pod and its one container is translated, or named
as having nothing to translate here (scheduling, the service account the pod does not mount), or
refused with ``ValueError``: a field added to the manifest fails the tests until it is
translated, so the container they run cannot drift from the manifest.

What comes from where:

========================================  ==================================================
pod / container field                     podman run
========================================  ==================================================
``hostPID``, ``hostIPC``, ``hostNetwork``  ``--pid host``, ``--ipc host``, ``--network host``
``ports`` (without ``hostNetwork``)       ``--publish 127.0.0.1:HOST_PORT:PORT``: the test
                                          reaches the pod's port as Prometheus reaches a pod IP
``env`` (``value``, ``resourceFieldRef``,  ``--env``; resource values rounded up to the
``fieldRef``)                             divisor, as the kubelet rounds them
``securityContext``: ``runAsUser``,       ``--user UID:GID``, ``--security-opt
``runAsGroup``, ``allowPrivilegeEscalation no-new-privileges``, ``--read-only`` (with no tmpfs
: false``, ``readOnlyRootFilesystem``,    of podman's own on /run and /var/tmp),
``capabilities``, ``seccompProfile``,     ``--cap-drop``/``--cap-add``, the runtime's default
``appArmorProfile``                       seccomp filter, ``apparmor=unconfined``
``resources``                             ``--cpus``, ``--memory`` (limits), ``--cpu-shares``
                                          (the CPU request, as the kubelet sets it)
``volumes``: ``secret``, ``emptyDir``     the Secret's keys written as the kubelet writes them
                                          (files under a ``..data`` directory, ``defaultMode``),
                                          mounted read-only; a tmpfs of ``sizeLimit`` for a
                                          memory ``emptyDir``, a directory for another
``livenessProbe`` (``httpGet``)           ``--health-cmd`` and its interval, timeout, retries and
                                          start period (``podman healthcheck run`` asks it)
``readinessProbe`` (``httpGet``)          :meth:`Probe.url`: the test waits until it answers
``terminationGracePeriodSeconds``         :attr:`PodRun.grace_seconds`: ``podman stop --time``
========================================  ==================================================

The container runtime's share: containerd on a cgroup v2 node gives each container a cgroup
namespace of its own, so the agent sees its own cgroup as ``/``; ``--cgroupns private`` does the
same here.
"""

from __future__ import annotations

import base64
import json
import math
import os
import socket
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

__all__ = ["PodRun", "Probe", "pod_run", "quantity"]

Manifest = dict[str, Any]

# Fields with nothing to translate to one container on this host: where and how the pod is
# scheduled, and the service account (the pod mounts none of its credentials: checked below).
_POD_IGNORED = {
    "serviceAccountName",
    "nodeSelector",
    "tolerations",
    "affinity",
    "priorityClassName",
}
_POD_KNOWN = _POD_IGNORED | {
    "automountServiceAccountToken",
    "enableServiceLinks",
    "hostPID",
    "hostIPC",
    "hostNetwork",
    "terminationGracePeriodSeconds",
    "securityContext",
    "containers",
    "volumes",
}
_CONTAINER_KNOWN = {
    "name",
    "image",
    "imagePullPolicy",
    "command",
    "args",
    "ports",
    "env",
    "securityContext",
    "readinessProbe",
    "livenessProbe",
    "resources",
    "volumeMounts",
}
_SECURITY_KNOWN = {
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "privileged",
    "allowPrivilegeEscalation",
    "readOnlyRootFilesystem",
    "capabilities",
    "seccompProfile",
    "appArmorProfile",
}
_PULL_POLICIES = {"IfNotPresent": "missing", "Never": "never", "Always": "always"}
_SUFFIXES = {
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
}

# The kubelet's httpGet probe, run in the container's network namespace: success is a status in
# [200, 400); the certificate of an HTTPS probe is not verified. Standard library only.
_HTTP_PROBE = (
    "import ssl, sys, urllib.request\n"
    "context = ssl._create_unverified_context()\n"
    "with urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2]), context=context) as r:\n"
    "    sys.exit(0 if 200 <= r.status < 400 else 1)\n"
)


def quantity(text: str | int | float) -> Fraction:
    """A Kubernetes resource quantity (``500m``, ``1``, ``256Mi``) as an exact number."""
    value = str(text)
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if suffix and value.endswith(suffix):
            return Fraction(value.removesuffix(suffix)) * _SUFFIXES[suffix]
    return Fraction(value)


@dataclass(frozen=True)
class Probe:
    """An ``httpGet`` probe: ``scheme`` (``http``/``https``), ``port`` (the container's), ``path``,
    and the kubelet's timing."""

    scheme: str
    port: int
    path: str
    period_seconds: int = 10
    timeout_seconds: int = 1
    failure_threshold: int = 3
    initial_delay_seconds: int = 0

    def url(self, host: str, port: int | None = None) -> str:
        return f"{self.scheme}://{host}:{self.port if port is None else port}{self.path}"


@dataclass
class PodRun:
    """One container of a pod, as ``podman run OPTIONS IMAGE ARGS`` runs it here."""

    image: str
    options: list[str]
    args: list[str]
    grace_seconds: int
    readiness: Probe | None
    liveness: Probe | None
    #: container port -> the loopback port it is published on (none with hostNetwork)
    published: dict[int, int] = field(default_factory=dict)
    #: the environment the container gets, as the kubelet computes it
    environment: dict[str, str] = field(default_factory=dict)


def pod_run(pod: Manifest, secrets: list[Manifest], volumes_dir: Path, host_ports: dict[int, int]) -> PodRun:
    """The ``podman run`` of ``pod``'s one container (``pod`` is a pod template's ``spec``).
    ``secrets`` are the Secret objects it may mount; their files are written under ``volumes_dir``.
    ``host_ports`` gives a free loopback port for each container port to publish."""
    _refuse_unknown("pod", pod, _POD_KNOWN)
    if pod.get("automountServiceAccountToken", True):
        raise ValueError("the pod mounts its service account's token: not translated")
    if pod.get("enableServiceLinks", True):
        raise ValueError("enableServiceLinks adds Service variables to the environment: not translated")
    (container,) = pod["containers"]
    _refuse_unknown("container", container, _CONTAINER_KNOWN)
    options: list[str] = ["--cgroupns", "private"]
    if pod.get("hostPID"):
        options += ["--pid", "host"]
    if pod.get("hostIPC"):
        options += ["--ipc", "host"]
    host_network = bool(pod.get("hostNetwork"))
    published: dict[int, int] = {}
    if host_network:
        options += ["--network", "host"]
    for port in container.get("ports", []):
        if host_network:
            published[port["containerPort"]] = port["containerPort"]
            continue
        number = port["containerPort"]
        published[number] = host_ports[number]
        protocol = port.get("protocol", "TCP").lower()
        options += ["--publish", f"127.0.0.1:{host_ports[number]}:{number}/{protocol}"]
    options += ["--pull", _PULL_POLICIES[container.get("imagePullPolicy", "IfNotPresent")]]
    options += _security_options(pod.get("securityContext", {}), container.get("securityContext", {}))
    options += _resource_options(container.get("resources", {}))
    environment = _environment(container, pod)
    for name, value in environment.items():
        options += ["--env", f"{name}={value}"]
    options += _volume_options(pod, container, secrets, volumes_dir)
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    liveness = _probe(container.get("livenessProbe"), ports)
    readiness = _probe(container.get("readinessProbe"), ports)
    if liveness is not None:
        options += _health_options(liveness)
    args = list(container.get("args", []))
    if "command" in container:
        options += ["--entrypoint", json.dumps(container["command"])]
    return PodRun(
        image=container["image"],
        options=options,
        args=args,
        grace_seconds=int(pod.get("terminationGracePeriodSeconds", 30)),
        readiness=readiness,
        liveness=liveness,
        published=published,
        environment=environment,
    )


def _refuse_unknown(what: str, manifest: Manifest, known: set[str]) -> None:
    unknown = set(manifest) - known
    if unknown:
        raise ValueError(f"{what} fields with no translation to podman: {sorted(unknown)}")


def _security_options(pod_context: Manifest, context: Manifest) -> list[str]:
    _refuse_unknown("pod securityContext", pod_context, _SECURITY_KNOWN - {"capabilities", "privileged"})
    _refuse_unknown("securityContext", context, _SECURITY_KNOWN)
    merged = pod_context | context  # the container's settings win over the pod's
    options: list[str] = []
    if merged.get("privileged"):
        options.append("--privileged")
    if "runAsUser" in merged:
        options += ["--user", f"{merged['runAsUser']}:{merged.get('runAsGroup', merged['runAsUser'])}"]
    if merged.get("runAsNonRoot") and merged.get("runAsUser", 1) == 0:
        raise ValueError("runAsNonRoot with runAsUser 0: the kubelet would refuse to start it")
    if merged.get("allowPrivilegeEscalation") is False:
        options += ["--security-opt", "no-new-privileges"]
    if merged.get("readOnlyRootFilesystem"):
        # Kubernetes mounts nothing writable of its own: no tmpfs on /run, /var/tmp as podman's default.
        options += ["--read-only", "--read-only-tmpfs=false"]
    capabilities = merged.get("capabilities", {})
    for name in capabilities.get("drop", []):
        options += ["--cap-drop", name.lower()]
    for name in capabilities.get("add", []):
        options += ["--cap-add", name.lower()]
    seccomp = merged.get("seccompProfile", {"type": "RuntimeDefault"})["type"]
    if seccomp == "Unconfined":
        options += ["--security-opt", "seccomp=unconfined"]
    elif seccomp != "RuntimeDefault":
        raise ValueError(f"seccompProfile {seccomp}: not translated")
    apparmor = merged.get("appArmorProfile", {"type": "RuntimeDefault"})["type"]
    if apparmor == "Unconfined":
        options += ["--security-opt", "apparmor=unconfined"]
    elif apparmor != "RuntimeDefault":
        raise ValueError(f"appArmorProfile {apparmor}: not translated")
    return options


def _resource_options(resources: Manifest) -> list[str]:
    limits, requests = resources.get("limits", {}), resources.get("requests", {})
    if set(limits) - {"cpu", "memory"} or set(requests) - {"cpu", "memory"}:
        raise ValueError(f"resources other than cpu and memory: {resources}")
    options: list[str] = []
    if "cpu" in limits:
        options += ["--cpus", str(float(quantity(limits["cpu"])))]
    if "memory" in limits:
        options += ["--memory", str(int(quantity(limits["memory"])))]
    if "cpu" in requests:
        # The kubelet's cpu.shares for a request: 1024 per CPU, at least 2.
        options += ["--cpu-shares", str(max(2, int(quantity(requests["cpu"]) * 1024)))]
    return options


def _environment(container: Manifest, pod: Manifest) -> dict[str, str]:
    environment: dict[str, str] = {}
    for variable in container.get("env", []):
        name = variable["name"]
        if "value" in variable:
            environment[name] = str(variable["value"])
            continue
        source = variable.get("valueFrom", {})
        if "resourceFieldRef" in source:
            environment[name] = _resource_field(source["resourceFieldRef"], container)
        elif "fieldRef" in source:
            environment[name] = _pod_field(source["fieldRef"]["fieldPath"], pod)
        else:
            raise ValueError(f"env {name}: {variable} is not translated")
    return environment


def _resource_field(reference: Manifest, container: Manifest) -> str:
    """A ``resourceFieldRef`` as the kubelet resolves it: the value over the divisor, rounded up."""
    if reference.get("containerName", container["name"]) != container["name"]:
        raise ValueError(f"resourceFieldRef of another container: {reference}")
    bound, _, resource = reference["resource"].partition(".")
    value = container["resources"][bound][resource]  # unset: the node's allocatable, not translated
    divisor = quantity(reference.get("divisor", "1"))
    return str(math.ceil(quantity(value) / divisor))


def _pod_field(path: str, pod: Manifest) -> str:
    values = {
        "spec.nodeName": socket.gethostname(),
        "spec.serviceAccountName": pod.get("serviceAccountName", "default"),
    }
    if path not in values:
        raise ValueError(f"fieldRef {path}: not translated")
    return values[path]


def _volume_options(pod: Manifest, container: Manifest, secrets: list[Manifest], root: Path) -> list[str]:
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    by_name = {s["metadata"]["name"]: s for s in secrets}
    options: list[str] = []
    for mount in container.get("volumeMounts", []):
        if set(mount) - {"name", "mountPath", "readOnly"}:
            raise ValueError(f"volumeMount {mount}: not translated")
        volume = volumes[mount["name"]]
        read_only = bool(mount.get("readOnly", False))
        target = mount["mountPath"]
        if "secret" in volume:
            source = root / mount["name"]
            _write_secret(volume["secret"], by_name[volume["secret"]["secretName"]], source)
            read_only = True  # the kubelet mounts every Secret read-only
        elif "emptyDir" in volume:
            empty = volume["emptyDir"]
            if empty.get("medium") == "Memory":
                size = int(quantity(empty["sizeLimit"])) if "sizeLimit" in empty else None
                tmpfs = f"type=tmpfs,destination={target},tmpfs-mode=1777"
                options += ["--mount", tmpfs + (f",tmpfs-size={size}" if size else "")]
                continue
            source = root / mount["name"]
            source.mkdir(mode=0o777)
        else:
            raise ValueError(f"volume {volume['name']}: only secret and emptyDir are translated")
        options += [
            "--mount",
            f"type=bind,source={source},destination={target}" + (",ro" if read_only else ""),
        ]
    return options


def _write_secret(volume: Manifest, secret: Manifest, directory: Path) -> None:
    """A Secret volume laid out as the kubelet's atomic writer lays it out: the files in a
    timestamped directory, ``..data`` a symlink to it, and each visible name a symlink through
    ``..data``; modes from ``defaultMode`` (0644 by default), owned by root."""
    data = {k: base64.b64decode(v) for k, v in secret.get("data", {}).items()}
    data |= {k: v.encode() for k, v in secret.get("stringData", {}).items()}
    items = volume.get("items") or [{"key": key, "path": key} for key in sorted(data)]
    mode = int(volume.get("defaultMode", 0o644))
    stamped = directory / "..2026_01_01_00_00_00.000000000"
    stamped.mkdir(parents=True)
    for item in items:
        path = stamped / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data[item["key"]])
        os.chmod(path, int(item.get("mode", mode)))
    (directory / "..data").symlink_to(stamped.name)
    for item in items:
        top = item["path"].split("/")[0]
        if not (directory / top).is_symlink():
            (directory / top).symlink_to(f"..data/{top}")


def _probe(probe: Manifest | None, ports: dict[str, int]) -> Probe | None:
    if probe is None:
        return None
    get = probe.get("httpGet")
    if get is None or set(probe) - {
        "httpGet",
        "periodSeconds",
        "timeoutSeconds",
        "failureThreshold",
        "successThreshold",
        "initialDelaySeconds",
    }:
        raise ValueError(f"only httpGet probes are translated: {probe}")
    port = get["port"]
    return Probe(
        scheme=get.get("scheme", "HTTP").lower(),
        port=ports[port] if isinstance(port, str) else int(port),
        path=get.get("path", "/"),
        period_seconds=int(probe.get("periodSeconds", 10)),
        timeout_seconds=int(probe.get("timeoutSeconds", 1)),
        failure_threshold=int(probe.get("failureThreshold", 3)),
        initial_delay_seconds=int(probe.get("initialDelaySeconds", 0)),
    )


def _health_options(probe: Probe) -> list[str]:
    # The probe's timeout bounds its request; podman's bounds the whole command, Python's start too.
    command = ["python", "-c", _HTTP_PROBE, probe.url("127.0.0.1"), str(probe.timeout_seconds)]
    return [
        "--health-cmd",
        json.dumps(command),
        "--health-interval",
        f"{probe.period_seconds}s",
        "--health-timeout",
        f"{probe.timeout_seconds + 5}s",
        "--health-retries",
        str(probe.failure_threshold),
        "--health-start-period",
        f"{probe.initial_delay_seconds}s",
    ]
