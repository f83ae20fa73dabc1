"""``struct page_region``: a run of pages with the same reported categories."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

from .categories import Category

__all__ = ["RECORD", "PageRegion", "iter_regions"]

#: One kernel record: three little-endian u64 (start, end, categories).
RECORD = struct.Struct("<QQQ")


class PageRegion(NamedTuple):
    """Pages ``[start, end)`` (bytes, page-aligned) that share ``categories``."""

    start: int
    end: int
    categories: Category

    def pages(self, page_size: int) -> int:
        return (self.end - self.start) // page_size


def iter_regions(records: bytes) -> Iterator[PageRegion]:
    """Decode packed records (a multiple of 24 bytes)."""
    for start, end, categories in RECORD.iter_unpack(records):
        yield PageRegion(start, end, Category(categories))
