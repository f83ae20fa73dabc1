"""Containers from cgroup paths: the shapes kubelet (systemd and cgroupfs drivers), containerd,
CRI-O, Docker and Podman really write, and paths that are not containers."""

from __future__ import annotations

import pytest

from app.export.containers import Container, container_of, parse_container_path

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
