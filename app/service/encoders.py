"""The three answer formats of /scan (docs/api.md): NDJSON, a JSON document, raw records.

An encoder turns the records of a chunk, the end of a scan and an error that ends a stream into
bytes; which format a client gets is the HTTP layer's choice (``app.http.answers``).
"""

from __future__ import annotations

import errno
import json
import struct
from collections.abc import Callable
from typing import Protocol

from ..errors import code_of
from ..pagemap import _pagemap
from ..pagemap.categories import category_names
from ..pagemap.scanner import Scan

__all__ = [
    "BINARY",
    "ENCODERS",
    "JSON",
    "NDJSON",
    "SHORT_NAMES",
    "BinaryEncoder",
    "Encode",
    "Encoder",
    "NdjsonEncoder",
    "json_region_list",
]

NDJSON = "application/x-ndjson"
JSON = "application/json"
BINARY = "application/octet-stream"
#: The formats' names in metrics labels and the audit log.
SHORT_NAMES = {NDJSON: "ndjson", JSON: "json", BINARY: "binary"}

#: JSON text of the category names for every categories value of 9 bits.
_NAMES = tuple(json.dumps(category_names(value), separators=(",", ":")).encode() for value in range(1 << 9))
_TRAILER_MARK = (1 << 64) - 1
_ERROR_MARK = (1 << 64) - 2
_RECORD = struct.Struct("<QQQ")


def json_region_list(records: bytes) -> bytes:
    """Records as JSON objects, each followed by a comma."""
    return _pagemap.encode_regions(records, _NAMES, b",")


#: What makes a chunk's records into a format's bytes: ``None`` where the records are sent as
#: they are (binary), so that no thread is asked to do nothing.
Encode = Callable[[bytes], bytes] | None


def _ndjson_lines(records: bytes) -> bytes:
    return _pagemap.encode_regions(records, _NAMES, b"\n")


class Encoder(Protocol):
    @property
    def regions(self) -> Encode: ...
    def trailer(self, scan: Scan) -> bytes: ...
    def error(self, exc: BaseException) -> bytes: ...


class NdjsonEncoder:
    """One JSON object per line; the trailer or an error object is the last line."""

    media_type = NDJSON

    @property
    def regions(self) -> Encode:
        return _ndjson_lines

    def trailer(self, scan: Scan) -> bytes:
        return b'{"walk_end":%d,"regions":%d,"pages":%d}\n' % (scan.walk_end, scan.regions, scan.pages)

    def error(self, exc: BaseException) -> bytes:
        message = getattr(exc, "message", None) or str(exc)
        return json.dumps({"error": {"code": code_of(exc), "message": message}}).encode() + b"\n"


class BinaryEncoder:
    """The kernel's 24-byte records; trailer ``(2^64-1, walk_end, regions)``, error
    ``(2^64-2, errno, 0)``."""

    media_type = BINARY
    regions: Encode = None  # the kernel's records are the answer

    def trailer(self, scan: Scan) -> bytes:
        return _RECORD.pack(_TRAILER_MARK, scan.walk_end, scan.regions)

    def error(self, exc: BaseException) -> bytes:
        code = code_of(exc)
        number = getattr(errno, code, None)
        if not isinstance(number, int):
            number = errno.ESRCH if code == "EXITED" else errno.EIO
        return _RECORD.pack(_ERROR_MARK, number, 0)


#: The encoder of each streamed format (encoders hold no state: one each serves every scan).
ENCODERS: dict[str, Encoder] = {NDJSON: NdjsonEncoder(), BINARY: BinaryEncoder()}
