from enum import StrEnum

class ListContainersRuntimeType0(StrEnum):
    CONTAINERD = "containerd"
    CRI_O = "cri-o"
    DOCKER = "docker"
    PODMAN = "podman"

    def __str__(self) -> str:
        return str(self.value)
