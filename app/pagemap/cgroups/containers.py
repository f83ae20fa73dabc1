"""Containers, recognized from the path of a process's cgroup, and the selection of some of them.

A node agent holds no API-server credentials, so what it says about a container comes from
the cgroup path the runtime and the kubelet chose (as the host names it: :mod:`.namespace`).
The shapes recognized:

- Kubernetes, systemd cgroup driver: ``/kubepods.slice/kubepods-burstable.slice/``
  ``kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope`` (``crio-<id>.scope``,
  ``docker-<id>.scope``); a Guaranteed pod sits directly under ``kubepods.slice``
  (``kubepods-pod<uid>.slice``); kind and some installers nest it all under ``kubelet.slice``
  (``kubelet-kubepods-...``). A systemd slice's name spells out its ancestors, so a pod slice
  is recognized by its name alone too (a path relative to a cgroup namespace whose root could
  not be placed: ``/../../kubepods-besteffort-pod<uid>.slice/crio-<id>.scope``).
- Kubernetes, cgroupfs driver: ``/kubepods/burstable/pod<uid>/<id>``, ``/kubepods/pod<uid>/<id>``.
- Without Kubernetes: Docker (``/docker/<id>``, ``/system.slice/docker-<id>.scope``) and Podman
  (``libpod-<id>.scope``).

A container id is the runtime's 64 hexadecimal digits; the pod UID comes back with dashes (the
systemd driver writes them as ``_``), as the API server and kube-state-metrics' ``uid`` label
spell it. CRI-O's ``crio-conmon-<id>.scope`` (and Podman's ``libpod-conmon-<id>.scope``) is the
runtime's monitor process, not the container. A pod's sandbox (``pause``) is a container of the
pod like the others.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import NamedTuple

from ..exceptions import AmbiguousContainer
from .spec import CgroupSpec

__all__ = [
    "CONTAINER_ID_PREFIX",
    "RUNTIMES",
    "Container",
    "ContainerSelector",
    "container_of",
    "find_container",
    "parse_container_id",
    "parse_container_path",
    "parse_pod_uid",
]

#: The runtimes a path can name, as :class:`Container` spells them.
RUNTIMES = ("containerd", "cri-o", "docker", "podman")
#: The shortest prefix that selects a container, as ``docker ps`` shows ids.
CONTAINER_ID_PREFIX = 12

_CONTAINER = re.compile(r"^(?:(cri-containerd|crio|docker|libpod)-)?([0-9a-f]{64})(?:\.scope)?$")
_RUNTIMES = {"cri-containerd": "containerd", "crio": "cri-o", "docker": "docker", "libpod": "podman"}
_KUBEPODS = re.compile(r"^(?:kubelet-)?kubepods(?:\.slice)?$")
_QOS = re.compile(r"^(?:(?:kubelet-)?kubepods-)?(burstable|besteffort)(?:\.slice)?$")
_POD = re.compile(
    r"^(?:(?:kubelet-)?kubepods-(?:burstable-|besteffort-)?)?pod([0-9a-f][0-9a-f_-]{15,})(?:\.slice)?$"
)
#: A systemd driver's pod slice, whose name says its QoS class (none: Guaranteed).
_POD_SLICE = re.compile(
    r"^(?:kubelet-)?kubepods-(?:(burstable|besteffort)-)?pod([0-9a-f][0-9a-f_-]{15,})\.slice$"
)
_HEX_ID = re.compile(r"[0-9a-f]{12,64}")
_POD_UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")


class Container(NamedTuple):
    """A container: ``container_id`` (64 hex digits); ``runtime`` (``containerd``, ``cri-o``,
    ``docker``, ``podman``, or ``""`` where the path does not say: the cgroupfs driver);
    ``pod_uid`` and ``qos`` (``guaranteed``, ``burstable``, ``besteffort``), ``""`` outside
    Kubernetes. (The exporter's labels, in this order.)"""

    container_id: str
    runtime: str = ""
    pod_uid: str = ""
    qos: str = ""


def _parse(path: str) -> tuple[Container, str] | None:
    """The container whose cgroup is ``path`` or holds it (the deepest one), and the path of
    the container's own cgroup; or None."""
    segments = [s for s in path.split("/") if s]
    for index in range(len(segments) - 1, -1, -1):
        found = _CONTAINER.match(segments[index])
        if found is None:
            continue
        prefix, container_id = found.groups()
        runtime = _RUNTIMES.get(prefix or "", "")
        pod_uid, qos = _pod_of(segments[:index])
        in_docker = index > 0 and segments[index - 1] == "docker"
        if not runtime and not pod_uid and not in_docker:
            return None  # a bare hex name outside a pod or /docker: nothing says it is a container
        if not runtime and in_docker:
            runtime = "docker"
        return Container(container_id, runtime, pod_uid, qos), "/" + "/".join(segments[: index + 1])
    return None


def parse_container_path(path: str) -> Container | None:
    """The container whose cgroup is ``path`` or holds it (the deepest one), or None."""
    found = _parse(path)
    return found[0] if found is not None else None


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
    if segments:
        pod = _POD_SLICE.match(segments[-1])
        if pod is not None:
            return pod.group(2).replace("_", "-"), pod.group(1) or "guaranteed"
    return "", ""


def _preference(line: tuple[str, str]) -> int:
    """The unified hierarchy's line first, then v1's ``memory``, then ``name=systemd``."""
    controllers = line[0].split(",")
    if line[0] == "":
        return 0
    if "memory" in controllers:
        return 1
    if "name=systemd" in controllers:
        return 2
    return 3


def find_container(memberships: Iterable[tuple[str, str]]) -> tuple[Container, CgroupSpec] | None:
    """The container of a process, from its ``/proc/PID/cgroup`` lines ``(controllers, path)``
    (the unified hierarchy's path, else a v1 ``memory`` or ``name=systemd`` one), and the
    container's own cgroup in that hierarchy; or None."""
    for controllers, path in sorted(memberships, key=_preference):
        if len(path) < 64:
            continue  # too short to hold a container id (most lines of most processes)
        found = _parse(path)
        if found is not None:
            container, cgroup = found
            return container, CgroupSpec(controllers, cgroup)
    return None


def container_of(memberships: Iterable[tuple[str, str]]) -> Container | None:
    """The container of a process, from its ``/proc/PID/cgroup`` lines (see
    :func:`find_container`), or None."""
    found = find_container(memberships)
    return found[0] if found is not None else None


def parse_container_id(text: str) -> str:
    """A container id as a selector takes it: the 64 hexadecimal digits, or a prefix of at
    least :data:`CONTAINER_ID_PREFIX`; raises ``ValueError`` saying why not."""
    if not _HEX_ID.fullmatch(text):
        raise ValueError(
            f"a container id is {CONTAINER_ID_PREFIX} to 64 lowercase hexadecimal digits "
            "(the full id, or a prefix of it as docker ps shows)"
        )
    return text


def parse_pod_uid(text: str) -> str:
    """A pod UID as the API server spells it: a UUID with dashes (or the 32 hexadecimal digits
    of a static pod's), lowercase; raises ``ValueError`` saying why not."""
    if not _POD_UID.fullmatch(text):
        raise ValueError(
            "a pod UID is a lowercase UUID with dashes (8-4-4-4-12 hexadecimal digits), "
            "or the 32 hexadecimal digits of a static pod's"
        )
    return text


class ContainerSelector(NamedTuple):
    """Which containers a request selects: each given field must hold (none given: every
    container). ``container_id`` is the full id or a prefix of it (at least 12 digits) that
    must name one container; ``pod_uid`` every container of that pod; ``runtime`` one of
    :data:`RUNTIMES`."""

    container_id: str | None = None
    pod_uid: str | None = None
    runtime: str | None = None

    @property
    def given(self) -> bool:
        """Whether any field is given (else every container is selected)."""
        return any(field is not None for field in self)

    def matches(self, container: Container) -> bool:
        return (
            (self.container_id is None or container.container_id.startswith(self.container_id))
            and (self.pod_uid is None or container.pod_uid == self.pod_uid)
            and (self.runtime is None or container.runtime == self.runtime)
        )

    def check_unique(self, container_ids: Collection[str]) -> None:
        """Raise ``AmbiguousContainer`` when ``container_ids``, those of the containers this
        selector matched, are several for one ``container_id`` prefix."""
        if self.container_id is not None and len(container_ids) > 1:
            shown = ", ".join(sorted(i[: CONTAINER_ID_PREFIX + 4] + "…" for i in container_ids)[:5])
            raise AmbiguousContainer(
                f"container_id: the prefix {self.container_id} matches {len(container_ids)} containers "
                f"({shown}): give more digits"
            )
