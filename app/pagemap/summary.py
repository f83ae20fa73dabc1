"""Page counts of a whole scan, without a Python object per region."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from . import _pagemap
from .categories import Category
from .maps import Mapping
from .scanner import Scan

__all__ = ["Counts", "ScanSummary", "summarize"]


@dataclass
class Counts:
    """Pages in all, and pages per category bit."""

    pages: int = 0
    by_category: dict[Category, int] = field(default_factory=dict)

    def add(self, row: tuple[int, ...]) -> None:
        self.pages += row[0]
        for category, n in zip(_CATEGORIES, row[1:], strict=False):
            if n:
                self.by_category[category] = self.by_category.get(category, 0) + n


#: The categories in bit order: ``count_pages``' row holds the total, then one count per bit.
_CATEGORIES = tuple(Category(1 << bit) for bit in range(len(Category)))


@dataclass
class ScanSummary:
    walk_end: int
    total: Counts
    #: Per mapping that has matching pages, in address order (only with ``by_vma``).
    vmas: list[tuple[Mapping, Counts]] | None


def summarize(scan: Scan, page_size: int, mappings: list[Mapping] | None = None) -> ScanSummary:
    """Run ``scan`` to its end and count its pages (per mapping when given)."""
    total = Counts()
    per_vma = [Counts() for _ in mappings] if mappings is not None else None
    bounds = b"".join(struct.pack("<QQ", m.start, m.end) for m in mappings) if mappings else None
    while not scan.done:
        records = scan.next_chunk()
        if not records:
            continue
        total.add(_pagemap.count_pages(records, page_size))
        if per_vma is not None and bounds:
            for counts, row in zip(per_vma, _pagemap.count_pages(records, page_size, bounds), strict=True):
                counts.add(row)
    vmas = None
    if mappings is not None and per_vma is not None:
        vmas = [(m, c) for m, c in zip(mappings, per_vma, strict=True) if c.pages]
    return ScanSummary(walk_end=scan.walk_end, total=total, vmas=vmas)
