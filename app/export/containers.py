"""Containers, recognized from the path of a process's cgroup.

A node agent holds no API-server credentials, so what it says about a container comes from
the cgroup path the runtime and the kubelet chose. The shapes recognized:

- Kubernetes, systemd cgroup driver: ``/kubepods.slice/kubepods-burstable.slice/``
  ``kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope`` (``crio-<id>.scope``,
  ``docker-<id>.scope``); a Guaranteed pod sits directly under ``kubepods.slice``
  (``kubepods-pod<uid>.slice``); kind and some installers nest it all under ``kubelet.slice``
  (``kubelet-kubepods-...``).
- Kubernetes, cgroupfs driver: ``/kubepods/burstable/pod<uid>/<id>``, ``/kubepods/pod<uid>/<id>``.
- Without Kubernetes: Docker (``/docker/<id>``, ``/system.slice/docker-<id>.scope``) and Podman
  (``libpod-<id>.scope``).

A container id is the runtime's 64 hexadecimal digits; the pod UID comes back with dashes (the
systemd driver writes them as ``_``), as the API server and kube-state-metrics' ``uid`` label
spell it. CRI-O's ``crio-conmon-<id>.scope`` is its monitor process, not the container.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["Container", "container_of", "parse_container_path"]

_CONTAINER = re.compile(r"^(?:(cri-containerd|crio|docker|libpod)-)?([0-9a-f]{64})(?:\.scope)?$")
_RUNTIMES = {"cri-containerd": "containerd", "crio": "cri-o", "docker": "docker", "libpod": "podman"}
_KUBEPODS = re.compile(r"^(?:kubelet-)?kubepods(?:\.slice)?$")
_QOS = re.compile(r"^(?:(?:kubelet-)?kubepods-)?(burstable|besteffort)(?:\.slice)?$")
_POD = re.compile(
    r"^(?:(?:kubelet-)?kubepods-(?:burstable-|besteffort-)?)?pod([0-9a-f][0-9a-f_-]{15,})(?:\.slice)?$"
)


class Container(NamedTuple):
    """A container: ``container_id`` (64 hex digits); ``runtime`` (``containerd``, ``cri-o``,
    ``docker``, ``podman``, or ``""`` where the path does not say: the cgroupfs driver);
    ``pod_uid`` and ``qos`` (``guaranteed``, ``burstable``, ``besteffort``), ``""`` outside
    Kubernetes."""

    container_id: str
    runtime: str = ""
    pod_uid: str = ""
    qos: str = ""


def parse_container_path(path: str) -> Container | None:
    """The container whose cgroup is ``path`` or holds it (the deepest one), or None."""
    segments = [s for s in path.split("/") if s]
    for index in range(len(segments) - 1, -1, -1):
        found = _CONTAINER.match(segments[index])
        if found is None:
            continue
        prefix, container_id = found.groups()
        runtime = _RUNTIMES.get(prefix or "", "")
        pod_uid, qos = _pod_of(segments[:index])
        if not runtime and not pod_uid and not (index > 0 and segments[index - 1] == "docker"):
            return None  # a bare hex name outside a pod or /docker: nothing says it is a container
        if not runtime and index > 0 and segments[index - 1] == "docker":
            runtime = "docker"
        return Container(container_id, runtime, pod_uid, qos)
    return None


def _pod_of(segments: list[str]) -> tuple[str, str]:
    """The pod UID and QoS class of a container's ancestors, or ``("", "")``."""
    for at, segment in enumerate(segments):
        if not _KUBEPODS.match(segment):
            continue
        qos = "guaranteed"
        for below in segments[at + 1 :]:
            level = _QOS.match(below)
            if level is not None:
                qos = level.group(1)
                continue
            pod = _POD.match(below)
            if pod is not None:
                return pod.group(1).replace("_", "-"), qos
            break
    return "", ""


def container_of(memberships: Iterable[tuple[str, str]]) -> Container | None:
    """The container of a process, from its ``/proc/PID/cgroup`` lines ``(controllers, path)``:
    the unified hierarchy's path, else a v1 ``memory`` or ``name=systemd`` one."""
    lines = list(memberships)

    def preference(line: tuple[str, str]) -> int:
        controllers = line[0].split(",")
        return (
            0
            if line[0] == ""
            else 1
            if "memory" in controllers
            else 2
            if "name=systemd" in controllers
            else 3
        )

    for _, path in sorted(lines, key=preference):
        if len(path) < 64:
            continue  # too short to hold a container id (most lines of most processes)
        container = parse_container_path(path)
        if container is not None:
            return container
    return None
