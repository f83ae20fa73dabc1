"""The three response formats of /scan (docs/api.md): NDJSON, a JSON document, raw records."""

from __future__ import annotations

import errno
import json
import struct
from typing import Protocol

from ..errors import PmscanError, code_of
from ..pagemap import _pagemap
from ..pagemap.categories import category_names
from ..pagemap.scanner import Scan

__all__ = [
    "BINARY",
    "JSON",
    "NDJSON",
    "SHORT_NAMES",
    "BinaryEncoder",
    "Encoder",
    "NdjsonEncoder",
    "NotAcceptable",
    "PayloadTooLarge",
    "choose_format",
    "error_code",
    "json_region_list",
]

NDJSON = "application/x-ndjson"
JSON = "application/json"
BINARY = "application/octet-stream"
_OFFERED = (NDJSON, JSON, BINARY)
#: The formats' names in metrics labels and the audit log.
SHORT_NAMES = {NDJSON: "ndjson", JSON: "json", BINARY: "binary"}

#: JSON text of the category names for every categories value of 9 bits.
_NAMES = tuple(json.dumps(category_names(value), separators=(",", ":")).encode() for value in range(1 << 9))
_TRAILER_MARK = (1 << 64) - 1
_ERROR_MARK = (1 << 64) - 2
_RECORD = struct.Struct("<QQQ")


class NotAcceptable(PmscanError):
    """The Accept header allows none of the formats /scan can produce."""

    status = 406
    code = "NOT_ACCEPTABLE"


class PayloadTooLarge(PmscanError):
    """The answer is too large for application/json: use a streaming format, or page with vec_len."""

    status = 413
    code = "TOO_LARGE"


def choose_format(accept: str | None) -> str:
    """The first offered media type the Accept header allows (NDJSON by default)."""
    if not accept:
        return NDJSON
    for item in accept.split(","):
        media, _, params = item.strip().partition(";")
        media = media.strip().lower()
        if "q=0" in params.replace(" ", "") and not any(c.isdigit() and c != "0" for c in params):
            continue
        if media in _OFFERED:
            return media
        if media in ("*/*", "application/*"):
            return NDJSON
    raise NotAcceptable(f"cannot produce any of {accept!r}; offered: {', '.join(_OFFERED)}")


def error_code(exc: BaseException) -> str:
    return code_of(exc)


def json_region_list(records: bytes) -> bytes:
    """Records as JSON objects, each followed by a comma."""
    return _pagemap.encode_regions(records, _NAMES, b",")


class Encoder(Protocol):
    def regions(self, records: bytes) -> bytes: ...
    def trailer(self, scan: Scan) -> bytes: ...
    def error(self, exc: BaseException) -> bytes: ...


class NdjsonEncoder:
    """One JSON object per line; the trailer or an error object is the last line."""

    media_type = NDJSON

    def regions(self, records: bytes) -> bytes:
        return _pagemap.encode_regions(records, _NAMES, b"\n")

    def trailer(self, scan: Scan) -> bytes:
        return b'{"walk_end":%d,"regions":%d,"pages":%d}\n' % (scan.walk_end, scan.regions, scan.pages)

    def error(self, exc: BaseException) -> bytes:
        message = getattr(exc, "message", None) or str(exc)
        return json.dumps({"error": {"code": error_code(exc), "message": message}}).encode() + b"\n"


class BinaryEncoder:
    """The kernel's 24-byte records; trailer ``(2^64-1, walk_end, regions)``, error
    ``(2^64-2, errno, 0)``."""

    media_type = BINARY

    def regions(self, records: bytes) -> bytes:
        return records

    def trailer(self, scan: Scan) -> bytes:
        return _RECORD.pack(_TRAILER_MARK, scan.walk_end, scan.regions)

    def error(self, exc: BaseException) -> bytes:
        code = error_code(exc)
        number = getattr(errno, code, None)
        if not isinstance(number, int):
            number = errno.ESRCH if code == "EXITED" else errno.EIO
        return _RECORD.pack(_ERROR_MARK, number, 0)
