"""The cgroup tree a kubelet makes for a pod, built for real under a temporary cgroup (root).

``KubePod("systemd")`` is the systemd driver's tree in the unified hierarchy, with containerd's
names: ``kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid with _>.slice/
cri-containerd-<id>.scope``; ``KubePod("cgroupfs")`` the cgroupfs driver's in v1's memory
hierarchy: ``kubepods/burstable/pod<uid>/<id>``. Both are created below a
:class:`~tests.support.cgroups.TemporaryCgroup`, processes move in with :meth:`KubePod.add`, and
all is removed on exit (``CgroupUnavailableError`` when no writable hierarchy is mounted).
"""

from __future__ import annotations

import uuid
from types import TracebackType

from tests.support.cgroups import TemporaryCgroup

__all__ = ["DRIVERS", "KubePod"]

#: driver -> (hierarchy, the runtime label pmscan gives its containers)
DRIVERS = {"systemd": ("", "containerd"), "cgroupfs": ("memory", "")}


class KubePod:
    """One Burstable pod (``uid``) of ``containers`` containers (``container_ids``)."""

    def __init__(self, driver: str, containers: int = 3) -> None:
        controller, self.runtime = DRIVERS[driver]
        self.driver = driver
        self.uid = str(uuid.uuid4())
        self.container_ids = [uuid.uuid4().hex + uuid.uuid4().hex for _ in range(containers)]
        self.cgroup = TemporaryCgroup(controller)
        if driver == "systemd":
            slice_uid = self.uid.replace("-", "_")
            self.pod_path = f"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{slice_uid}.slice"
            self._name = "cri-containerd-{}.scope"
        else:
            self.pod_path = f"kubepods/burstable/pod{self.uid}"
            self._name = "{}"

    def container_path(self, container_id: str) -> str:
        return f"{self.pod_path}/{self._name.format(container_id)}"

    def add(self, pid: int, container: int) -> None:
        """Move ``pid`` into the ``container``-th container."""
        self.cgroup.add(pid, self.container_path(self.container_ids[container]))

    def __enter__(self) -> KubePod:
        self.cgroup.__enter__()
        try:
            parts = self.pod_path.split("/")
            for depth in range(1, len(parts) + 1):
                self.cgroup.make("/".join(parts[:depth]))
            for container_id in self.container_ids:
                self.cgroup.make(self.container_path(container_id))
        except BaseException as exc:
            self.cgroup.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cgroup.__exit__(exc_type, exc, tb)
