from enum import StrEnum

class ScanRequestBackend(StrEnum):
    AUTO = "auto"
    IOCTL = "ioctl"
    PAGEMAP = "pagemap"

    def __str__(self) -> str:
        return str(self.value)
