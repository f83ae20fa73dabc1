"""The binary format of ``/scan``: 24-byte ``page_region`` records, read incrementally.

A body is records ``(start, end, categories)`` as three little-endian u64, then exactly one
of the trailer ``(2^64-1, walk_end, regions)`` or the error record ``(2^64-2, errno, 0)``.
Chunks of the body may be cut anywhere; a body with neither last record was cut short.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterator
from itertools import repeat
from typing import NamedTuple

from ._errors import IncompleteResponse, error_for_errno
from ._models import CATEGORY, PageRegion

__all__ = ["CATEGORY", "RECORD_SIZE", "RecordReader", "Trailer", "decode", "trailer_of", "values_of"]

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


def decode(records: bytes | bytearray | memoryview) -> Iterator[PageRegion]:
    """``PageRegion`` objects from packed records, made as they are consumed: the per-record
    work stays in C loops (``struct``'s, then one tuple each), and few regions are alive at
    once (less work for the GC)."""
    return map(_new_tuple, repeat(PageRegion), RECORD.iter_unpack(records))


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
