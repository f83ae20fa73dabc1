from enum import StrEnum

class WatchRequestBackend(StrEnum):
    AUTO = "auto"
    IOCTL = "ioctl"
    PAGEMAP = "pagemap"

    def __str__(self) -> str:
        return str(self.value)
