"""``RegionArray``: a whole scan answer as the kernel's own records, without an object per region.

The binary body of ``POST /scan`` is ``struct page_region`` records, three little-endian u64
each. :class:`RegionArray` keeps them in one buffer, as received, and offers them as a
sequence of :class:`PageRegion` (made on access) and, without copying, as columns:
``starts``, ``ends`` and ``categories`` are strided views of the buffer (``memoryview`` of
format ``"Q"``), and :meth:`numpy` a ``(n, 3)`` array on the same memory (numpy stays optional:
it is imported only there).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any, overload

from ._models import PageRegion
from ._records import RECORD_SIZE, decode, values_of

__all__ = ["RegionArray"]

_BIG_ENDIAN = sys.byteorder == "big"


class RegionArray(Sequence[PageRegion]):
    """The regions of a scan, backed by their packed 24-byte records (addresses in bytes,
    ``[start, end)``).

    ``records`` is the buffer as received (``bytes(regions.records)`` is the body of the binary
    format without its trailer); ``walk_end`` is where to resume (``end`` when nothing is
    left); ``pages`` counts the pages of the regions (computed on first use). A slice is a
    ``RegionArray`` of those records on the same memory, whose ``walk_end`` is the end of its
    last region unless it reaches the end of this one.
    """

    __slots__ = ("_pages", "_records", "_values", "page_size", "walk_end")

    def __init__(self, records: bytes | bytearray | memoryview, *, walk_end: int, page_size: int) -> None:
        view = memoryview(records).cast("B")
        if len(view) % RECORD_SIZE:
            raise ValueError(f"records must be a multiple of {RECORD_SIZE} bytes, not {len(view)}")
        self._records = view
        # Native u64 on the same memory; a big-endian machine needs its own copy, swapped.
        self._values: memoryview = memoryview(values_of(view)) if _BIG_ENDIAN else view.cast("Q")
        self._pages: int | None = None
        self.walk_end = walk_end
        self.page_size = page_size

    @property
    def records(self) -> memoryview:
        """The packed records, 24 bytes each (read-only when built from ``bytes``)."""
        return self._records

    @property
    def starts(self) -> memoryview:
        """The regions' first addresses, a zero-copy view of format ``"Q"``."""
        return self._values[0::3]

    @property
    def ends(self) -> memoryview:
        """The regions' exclusive ends, a zero-copy view of format ``"Q"``."""
        return self._values[1::3]

    @property
    def categories(self) -> memoryview:
        """The regions' ``Category`` bitmasks as integers, a zero-copy view of format ``"Q"``."""
        return self._values[2::3]

    @property
    def pages(self) -> int:
        """The pages the regions cover."""
        if self._pages is None:
            self._pages = (sum(self.ends) - sum(self.starts)) // self.page_size
        return self._pages

    def numpy(self) -> Any:
        """The records as a ``(n, 3)`` numpy array of ``uint64`` on the same memory
        (``numpy.frombuffer``): columns start, end, categories. Needs numpy installed."""
        try:
            numpy = importlib.import_module("numpy")  # optional: only this method needs it
        except ImportError as err:
            raise ImportError("RegionArray.numpy() needs numpy: pip install numpy") from err
        return numpy.frombuffer(self._records, dtype="<u8").reshape(-1, 3)

    def __len__(self) -> int:
        return len(self._records) // RECORD_SIZE

    @overload
    def __getitem__(self, index: int) -> PageRegion: ...
    @overload
    def __getitem__(self, index: slice) -> RegionArray: ...
    def __getitem__(self, index: int | slice) -> PageRegion | RegionArray:
        count = len(self)
        if isinstance(index, slice):
            first, stop, step = index.indices(count)
            if step != 1:
                raise ValueError("a RegionArray slice must be contiguous (step 1)")
            stop = max(first, stop)
            walk_end = self.walk_end if stop == count else (self._values[3 * stop - 2] if stop else 0)
            part = self._records[first * RECORD_SIZE : stop * RECORD_SIZE]
            return RegionArray(part, walk_end=walk_end, page_size=self.page_size)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError("RegionArray index out of range")
        start, end, categories = self._values[3 * index : 3 * index + 3].tolist()
        return PageRegion(start, end, categories)

    def __iter__(self) -> Iterator[PageRegion]:
        return decode(self._records)

    def __repr__(self) -> str:
        return f"RegionArray({len(self)} regions, walk_end={self.walk_end:#x})"
