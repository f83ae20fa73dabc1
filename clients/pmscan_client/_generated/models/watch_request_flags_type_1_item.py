from enum import StrEnum

class WatchRequestFlagsType1Item(StrEnum):
    CHECK_WPASYNC = "CHECK_WPASYNC"
    WP_MATCHING = "WP_MATCHING"

    def __str__(self) -> str:
        return str(self.value)
