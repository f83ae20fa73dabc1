from enum import StrEnum

class ContainerInfoQos(StrEnum):
    BESTEFFORT = "besteffort"
    BURSTABLE = "burstable"
    GUARANTEED = "guaranteed"
    VALUE_3 = ""

    def __str__(self) -> str:
        return str(self.value)
