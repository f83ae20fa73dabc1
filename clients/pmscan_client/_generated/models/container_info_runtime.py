from enum import StrEnum

class ContainerInfoRuntime(StrEnum):
    CONTAINERD = "containerd"
    CRI_O = "cri-o"
    DOCKER = "docker"
    PODMAN = "podman"
    VALUE_4 = ""

    def __str__(self) -> str:
        return str(self.value)
