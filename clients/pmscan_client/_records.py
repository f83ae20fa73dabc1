"""The binary format of ``/scan``: 24-byte ``page_region`` records, read incrementally.

A body is records ``(start, end, categories)`` as three little-endian u64, then exactly one
of the trailer ``(2^64-1, walk_end, regions)`` or the error record ``(2^64-2, errno, 0)``.
Chunks of the body may be cut anywhere; a body with neither last record was cut short.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterable, Iterator
from itertools import repeat
from typing import NamedTuple

from ._errors import IncompleteResponse, error_for_errno
from ._models import CATEGORY, PageRegion

__all__ = [
    "CATEGORY",
    "RECORD_SIZE",
    "RecordReader",
    "Trailer",
    "decode",
    "regions_of",
    "trailer_of",
    "value_list",
    "values_of",
]

RECORD = struct.Struct("<QQQ")
RECORD_SIZE = RECORD.size
TRAILER_MARK = (1 << 64) - 1
ERROR_MARK = (1 << 64) - 2
_BIG_ENDIAN = sys.byteorder == "big"


class Trailer(NamedTuple):
    """The last record of a complete answer."""

    walk_end: int
    regions: int


_new_tuple = tuple.__new__


def values_of(records: bytes | bytearray | memoryview) -> array[int]:
    """Packed records as a flat array of native integers ``start, end, categories, …``."""
    values = array("Q")
    values.frombytes(records)
    if _BIG_ENDIAN:
        values.byteswap()
    return values


def _native(records: bytes | bytearray | memoryview) -> array[int] | memoryview:
    """The records' integers without a copy where the machine is little-endian."""
    return values_of(records) if _BIG_ENDIAN else memoryview(records).cast("B").cast("Q")


def value_list(records: bytes | bytearray | memoryview) -> list[int]:
    """Packed records as a list of their integers ``start, end, categories, …``: each integer
    made once, in one C loop, to be shared by the regions (:func:`regions_of`) and whatever
    else reads them (a page count sums the list's slices without making any)."""
    return _native(records).tolist()


def regions_of(values: Iterable[int]) -> Iterator[PageRegion]:
    """``PageRegion`` objects from integers ``start, end, categories, …``, made as they are
    consumed, in C loops: ``zip`` hands out one triple it reuses (no tuple per region besides
    the region itself), and ``tuple.__new__`` makes the region from it."""
    items = iter(values)
    return map(_new_tuple, repeat(PageRegion), zip(items, items, items, strict=True))


def decode(records: bytes | bytearray | memoryview) -> Iterator[PageRegion]:
    """``PageRegion`` objects from packed records, made as they are consumed (few are alive
    at once: less work for the GC), each integer read straight from the buffer."""
    return regions_of(_native(records))


class RecordReader:
    """Whole region records from body chunks cut anywhere.

    The last whole record is held back until the body ends, since it may be the trailer.
    """

    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, data: bytes) -> bytes:
        """The region records that are certain now (a multiple of 24 bytes, maybe empty)."""
        pending = self._pending
        pending += data
        ready = (len(pending) // RECORD_SIZE - 1) * RECORD_SIZE
        if ready <= 0:
            return b""
        records = bytes(pending[:ready])
        del pending[:ready]
        return records

    def finish(self) -> Trailer:
        """At the end of the body: the trailer.

        Raises the exception of an error record (``ProcessGone``, …), or
        ``IncompleteResponse`` if the body ended without either.
        """
        pending = self._pending
        if len(pending) != RECORD_SIZE:
            raise IncompleteResponse(
                f"the scan stream ended without its trailer ({len(pending) % RECORD_SIZE} stray bytes)"
                if len(pending) % RECORD_SIZE
                else "the scan stream ended without its trailer"
            )
        return trailer_of(bytes(pending))


def trailer_of(record: bytes) -> Trailer:
    """The last record of a body as its trailer; raises the exception of an error record
    (``ProcessGone``, …), or ``IncompleteResponse`` for a region record."""
    mark, first, second = RECORD.unpack(record)
    if mark == TRAILER_MARK:
        return Trailer(first, second)
    if mark == ERROR_MARK:
        raise error_for_errno(first)
    raise IncompleteResponse("the scan stream ended without its trailer")
