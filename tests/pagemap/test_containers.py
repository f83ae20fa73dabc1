"""Containers from cgroup paths: the shapes kubelet (systemd and cgroupfs drivers), containerd,
CRI-O, Docker and Podman really write, and paths that are not containers; the container's own
cgroup; how a request selects containers."""

from __future__ import annotations

import pytest

from app.pagemap.cgroups import (
    CgroupSpec,
    Container,
    ContainerSelector,
    container_of,
    find_container,
    parse_container_id,
    parse_container_path,
    parse_pod_uid,
)
from app.pagemap.exceptions import AmbiguousContainer

ID = "4f2d9c0b7a1e3d5f6a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"
UID = "8e6c0f0a-3b1f-4b5e-9a44-2c1e9b0f6d11"
SYSTEMD_UID = UID.replace("-", "_")
STATIC_UID = "6b8ce4d0cbb07bf7c2c4b2e5b0d5a9a6"  # a static pod's UID: the hash of its manifest


class TestKubernetesPaths:
    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            # systemd driver, containerd (kubeadm, EKS, GKE)
            (
                f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{SYSTEMD_UID}.slice/"
                f"cri-containerd-{ID}.scope",
                Container(ID, "containerd", UID, "burstable"),
            ),
            # systemd driver, CRI-O (OpenShift)
            (
                f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{SYSTEMD_UID}.slice/"
                f"crio-{ID}.scope",
                Container(ID, "cri-o", UID, "besteffort"),
            ),
            # systemd driver, a Guaranteed pod (no QoS slice), cri-dockerd
            (
                f"/kubepods.slice/kubepods-pod{SYSTEMD_UID}.slice/docker-{ID}.scope",
                Container(ID, "docker", UID, "guaranteed"),
            ),
            # kind: the kubelet's pods under kubelet.slice
            (
                "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
                f"kubelet-kubepods-besteffort-pod{SYSTEMD_UID}.slice/cri-containerd-{ID}.scope",
                Container(ID, "containerd", UID, "besteffort"),
            ),
            # cgroupfs driver (k3s, older kubeadm): the runtime is not in the path
            (f"/kubepods/burstable/pod{UID}/{ID}", Container(ID, "", UID, "burstable")),
            (f"/kubepods/besteffort/pod{UID}/{ID}", Container(ID, "", UID, "besteffort")),
            (f"/kubepods/pod{UID}/{ID}", Container(ID, "", UID, "guaranteed")),
            (f"/kubepods/burstable/pod{STATIC_UID}/{ID}", Container(ID, "", STATIC_UID, "burstable")),
            # a process in a child cgroup of the container (systemd inside a container)
            (
                f"/kubepods.slice/kubepods-pod{SYSTEMD_UID}.slice/cri-containerd-{ID}.scope/init.scope",
                Container(ID, "containerd", UID, "guaranteed"),
            ),
        ],
    )
    def test_labels(self, path: str, expected: Container) -> None:
        assert parse_container_path(path) == expected


class TestOtherContainers:
    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            (f"/system.slice/docker-{ID}.scope", Container(ID, "docker")),
            (f"/docker/{ID}", Container(ID, "docker")),
            (
                f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container",
                Container(ID, "podman"),
            ),
            (f"/machine.slice/libpod-{ID}.scope", Container(ID, "podman")),
        ],
    )
    def test_labels(self, path: str, expected: Container) -> None:
        assert parse_container_path(path) == expected


class TestNotContainers:
    @pytest.mark.parametrize(
        "path",
        [
            "/",
            "/init.scope",
            "/system.slice/containerd.service",
            "/user.slice/user-0.slice/session-3.scope",
            # the pod's own cgroup (no container), and CRI-O's monitor beside the container
            f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{SYSTEMD_UID}.slice",
            f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{SYSTEMD_UID}.slice/"
            f"crio-conmon-{ID}.scope",
            # 64 hex digits alone say nothing outside a pod or /docker
            f"/system.slice/{ID}",
            f"/kubepods/burstable/pod{UID}/{ID[:12]}",
            # Podman's monitor
            f"/machine.slice/libpod-conmon-{ID}.scope",
        ],
    )
    def test_none(self, path: str) -> None:
        assert parse_container_path(path) is None


class TestProcCgroupLines:
    def test_unified_hierarchy(self) -> None:
        assert container_of([("", f"/docker/{ID}")]) == Container(ID, "docker")

    def test_v1_prefers_memory_over_other_controllers(self) -> None:
        lines = [
            ("cpu,cpuacct", "/"),
            ("memory", f"/kubepods/pod{UID}/{ID}"),
            ("name=systemd", "/"),
        ]
        assert container_of(lines) == Container(ID, "", UID, "guaranteed")

    def test_none_when_no_line_names_one(self) -> None:
        assert container_of([("", "/user.slice")]) is None


class TestRelativePaths:
    """Paths relative to a cgroup namespace whose root could not be placed on the host: the
    systemd driver's pod slices spell out their QoS class; cgroupfs' say nothing of the pod."""

    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            (
                f"/../../kubepods-besteffort-pod{SYSTEMD_UID}.slice/crio-{ID}.scope",
                Container(ID, "cri-o", UID, "besteffort"),
            ),
            (
                f"/../kubepods-pod{SYSTEMD_UID}.slice/cri-containerd-{ID}.scope",
                Container(ID, "containerd", UID, "guaranteed"),
            ),
            (f"/../cri-containerd-{ID}.scope", Container(ID, "containerd")),
            (f"/../../pod{UID}/{ID}", None),
        ],
    )
    def test_labels(self, path: str, expected: Container | None) -> None:
        assert parse_container_path(path) == expected


class TestTheContainersCgroup:
    def test_a_process_below_its_container_names_the_container(self) -> None:
        container = f"/kubepods.slice/kubepods-pod{SYSTEMD_UID}.slice/cri-containerd-{ID}.scope"
        found = find_container([("", container + "/init.scope")])
        assert found == (Container(ID, "containerd", UID, "guaranteed"), CgroupSpec("", container))

    def test_v1_names_its_hierarchy(self) -> None:
        found = find_container([("cpu,cpuacct", "/"), ("memory", f"/kubepods/besteffort/pod{UID}/{ID}")])
        assert found == (
            Container(ID, "", UID, "besteffort"),
            CgroupSpec("memory", f"/kubepods/besteffort/pod{UID}/{ID}"),
        )
        assert str(found[1]) == f"memory:/kubepods/besteffort/pod{UID}/{ID}"


OTHER = "4f2d9c0b7a1e" + "0" * 52


class TestSelector:
    def test_every_field_given_must_hold(self) -> None:
        container = Container(ID, "containerd", UID, "burstable")
        assert ContainerSelector().matches(container)
        assert not ContainerSelector().given
        assert ContainerSelector(container_id=ID[:12], pod_uid=UID, runtime="containerd").matches(container)
        assert not ContainerSelector(container_id=ID[:12], runtime="cri-o").matches(container)
        assert not ContainerSelector(pod_uid=STATIC_UID).matches(container)

    def test_a_prefix_of_several_containers_is_ambiguous(self) -> None:
        with pytest.raises(AmbiguousContainer, match="container_id: the prefix 4f2d9c0b7a1e matches 2"):
            ContainerSelector(container_id=ID[:12]).check_unique({ID, OTHER})
        ContainerSelector(container_id=ID[:13]).check_unique({ID})
        ContainerSelector(pod_uid=UID).check_unique({ID, OTHER})  # a pod has several

    @pytest.mark.parametrize("text", [ID, ID[:12], ID[:40]])
    def test_ids(self, text: str) -> None:
        assert parse_container_id(text) == text

    @pytest.mark.parametrize("text", [ID[:11], ID + "0", ID.upper(), "g" * 12, f"docker-{ID}", ""])
    def test_not_ids(self, text: str) -> None:
        with pytest.raises(ValueError, match="lowercase hexadecimal"):
            parse_container_id(text)

    @pytest.mark.parametrize("text", [UID, STATIC_UID])
    def test_pod_uids(self, text: str) -> None:
        assert parse_pod_uid(text) == text

    @pytest.mark.parametrize("text", [SYSTEMD_UID, UID.upper(), UID[:-1], ID, ""])
    def test_not_pod_uids(self, text: str) -> None:
        with pytest.raises(ValueError, match="pod UID"):
            parse_pod_uid(text)
