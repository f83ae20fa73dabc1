"""The kernel's vocabulary: page categories and scan flags (include/uapi/linux/fs.h)."""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = ["Category", "ScanFlag", "category_names", "parse_mask"]


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


def category_names(mask: int) -> list[str]:
    """Names of the known category bits set in ``mask``, in bit order."""
    return [c.name for c in Category if mask & c.value and c.name is not None]


def parse_mask(kind: type[enum.IntFlag], value: int | Iterable[str]) -> int:
    """An integer bitmask from an int or from names of ``kind`` (case-insensitive).

    Raises ``ValueError`` naming an unknown name or bit.
    """
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must not be negative")
        unknown = value & ~sum(m.value for m in kind)
        if unknown:
            raise ValueError(f"unknown bit(s) {unknown:#x}; known: {', '.join(_names(kind))}")
        return value
    mask = 0
    for name in value:
        try:
            mask |= kind[name.upper()].value
        except KeyError:
            raise ValueError(f"unknown name {name!r}; known: {', '.join(_names(kind))}") from None
    return mask


def _names(kind: type[enum.IntFlag]) -> list[str]:
    return [m.name for m in kind if m.name is not None]
