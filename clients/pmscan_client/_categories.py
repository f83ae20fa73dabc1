"""The kernel's vocabulary: page categories and scan flags (include/uapi/linux/fs.h).

The same values as the server's ``app.pagemap.categories`` (a test compares them).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = ["Category", "Mask", "ScanFlag", "mask_value"]


class Category(enum.IntFlag):
    """``PAGE_IS_*``: what a page is. Bit values are the kernel ABI."""

    WPALLOWED = 1 << 0
    WRITTEN = 1 << 1
    FILE = 1 << 2
    PRESENT = 1 << 3
    SWAPPED = 1 << 4
    PFNZERO = 1 << 5
    HUGE = 1 << 6
    SOFT_DIRTY = 1 << 7
    GUARD = 1 << 8


class ScanFlag(enum.IntFlag):
    """``PM_SCAN_*`` flags of ``pm_scan_arg.flags``."""

    WP_MATCHING = 1 << 0
    CHECK_WPASYNC = 1 << 1


#: A mask argument: a bitmask (``Category.PRESENT | Category.WRITTEN``), or names (``["present"]``).
Mask = int | Iterable[str]


def mask_value(kind: type[enum.IntFlag], value: Mask) -> int:
    """The integer bitmask of ``value`` (names are case-insensitive).

    Raises ``ValueError`` for an unknown name; unknown bits are left for the server to reject.
    """
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        value = value.replace("|", ",").split(",")
    mask = 0
    for given in value:
        name = given.strip().upper().replace("-", "_")
        if not name:
            continue
        try:
            mask |= kind[name].value
        except KeyError:
            known = ", ".join(m.name for m in kind if m.name)
            raise ValueError(f"unknown {kind.__name__} name {name!r}; known: {known}") from None
    return mask
