from enum import StrEnum

class WatchRequestCategoryInvertedType1Item(StrEnum):
    FILE = "FILE"
    GUARD = "GUARD"
    HUGE = "HUGE"
    PFNZERO = "PFNZERO"
    PRESENT = "PRESENT"
    SOFT_DIRTY = "SOFT_DIRTY"
    SWAPPED = "SWAPPED"
    WPALLOWED = "WPALLOWED"
    WRITTEN = "WRITTEN"

    def __str__(self) -> str:
        return str(self.value)
