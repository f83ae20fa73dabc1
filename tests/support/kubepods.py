"""The cgroup tree a kubelet makes for a pod, built for real under a temporary cgroup (root).

``KubePod("systemd")`` is the systemd driver's tree in the unified hierarchy, with containerd's
names: ``kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid with _>.slice/
cri-containerd-<id>.scope``; ``KubePod("cgroupfs")`` the cgroupfs driver's in v1's memory
hierarchy: ``kubepods/burstable/pod<uid>/<id>``. ``qos`` picks the QoS class (a Guaranteed
pod has no QoS level: ``kubepods.slice/kubepods-pod<uid>.slice``), ``runtime`` the systemd
driver's scope names (``containerd``, ``cri-o``, ``docker``); ``container_ids`` sets the ids.
Both are created below a :class:`~tests.support.cgroups.TemporaryCgroup` of their own, or in
the kubepods tree of one given (``within``: several pods of one node, which that cgroup removes
on its exit); processes move in with :meth:`KubePod.add` (a runtime's monitor beside its
container with :meth:`KubePod.add_monitor`), and all is removed on exit
(``CgroupUnavailableError`` when no writable hierarchy is mounted).
"""

from __future__ import annotations

import uuid
from types import TracebackType

from tests.support.cgroups import TemporaryCgroup

__all__ = ["DRIVERS", "SCOPES", "KubePod", "container_id"]

#: driver -> (hierarchy, the runtime label pmscan gives its containers by default)
DRIVERS = {"systemd": ("", "containerd"), "cgroupfs": ("memory", "")}
#: runtime -> the systemd driver's scope of a container, and of the runtime's monitor (CRI-O's
#: conmon; None: the runtime has none beside the container)
SCOPES = {
    "containerd": ("cri-containerd-{}.scope", None),
    "cri-o": ("crio-{}.scope", "crio-conmon-{}.scope"),
    "docker": ("docker-{}.scope", None),
}


def container_id() -> str:
    """A new container id: 64 lowercase hexadecimal digits."""
    return uuid.uuid4().hex + uuid.uuid4().hex


class KubePod:
    """One pod (``uid``) of ``containers`` containers (``container_ids``), of QoS class ``qos``."""

    def __init__(
        self,
        driver: str,
        containers: int = 3,
        *,
        qos: str = "burstable",
        runtime: str | None = None,
        container_ids: list[str] | None = None,
        within: TemporaryCgroup | None = None,
    ) -> None:
        controller, default_runtime = DRIVERS[driver]
        self.driver = driver
        self.qos = qos
        self.runtime = default_runtime if driver == "cgroupfs" else (runtime or default_runtime)
        self.uid = str(uuid.uuid4())
        self.container_ids = container_ids or [container_id() for _ in range(containers)]
        assert within is None or within.controller == controller, (
            "a pod of this driver is not in that hierarchy"
        )
        self.cgroup = within or TemporaryCgroup(controller)
        self._owned = within is None
        level = "" if qos == "guaranteed" else qos
        if driver == "systemd":
            slice_uid = self.uid.replace("-", "_")
            parent = "kubepods.slice" + (f"/kubepods-{level}.slice" if level else "")
            self.pod_path = f"{parent}/kubepods-{level + '-' if level else ''}pod{slice_uid}.slice"
            self._name, self._monitor = SCOPES[self.runtime]
        else:
            self.pod_path = "kubepods" + (f"/{level}" if level else "") + f"/pod{self.uid}"
            self._name, self._monitor = "{}", None

    def container_path(self, container_id: str) -> str:
        return f"{self.pod_path}/{self._name.format(container_id)}"

    def spec(self, container: int) -> str:
        """The container's cgroup as the API names it (``/summary``'s ``cgroup``)."""
        return self.cgroup.spec(self.container_path(self.container_ids[container]))

    def add(self, pid: int, container: int, child: str = "") -> None:
        """Move ``pid`` into the ``container``-th container (into its ``child`` cgroup, made
        on first use, when given)."""
        path = self.container_path(self.container_ids[container])
        if child:
            path += f"/{child}"
            if not self.cgroup.directory(path).exists():
                self.cgroup.make(path)
        self.cgroup.add(pid, path)

    def add_monitor(self, pid: int, container: int) -> None:
        """Move ``pid`` into the cgroup of the runtime's monitor of the ``container``-th
        container (CRI-O's ``crio-conmon-<id>.scope``, beside the container's)."""
        assert self._monitor is not None, f"{self.runtime} has no monitor cgroup"
        path = f"{self.pod_path}/{self._monitor.format(self.container_ids[container])}"
        if not self.cgroup.directory(path).exists():
            self.cgroup.make(path)
        self.cgroup.add(pid, path)

    def __enter__(self) -> KubePod:
        if self._owned:
            self.cgroup.__enter__()
        try:
            parts = self.pod_path.split("/")
            for depth in range(1, len(parts) + 1):
                if not self.cgroup.directory("/".join(parts[:depth])).exists():  # shared levels
                    self.cgroup.make("/".join(parts[:depth]))
            for container_id in self.container_ids:
                self.cgroup.make(self.container_path(container_id))
        except BaseException as exc:
            if self._owned:
                self.cgroup.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._owned:
            self.cgroup.__exit__(exc_type, exc, tb)
