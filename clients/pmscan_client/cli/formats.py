"""What ``pmscan`` writes for programs to read: the server's NDJSON lines, JSON documents,
the kernel's binary records, ``/proc/PID/maps`` lines, ``key: value`` lines. Plain text or
bytes, never drawn (the tables for people are :mod:`.tables`)."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from functools import cache
from typing import Any

from .. import Capabilities, Category, FleetResult, FleetSummary, MappingInfo, PageRegion, Summary

__all__ = [
    "binary_record",
    "binary_trailer",
    "capabilities_text",
    "category_names",
    "error_json",
    "fleet_json",
    "maps_text",
    "region_ndjson",
    "region_text",
    "summary_json",
    "trailer_ndjson",
]

_RECORD = struct.Struct("<QQQ")
TRAILER_MARK = (1 << 64) - 1


@cache
def category_names(categories: Category) -> list[str]:
    """The names of the bits of ``categories``, in bit order."""
    return [c.name for c in Category if c.name and categories & c]


@cache
def _names_json(categories: Category) -> str:
    return json.dumps(category_names(categories))


def region_ndjson(region: PageRegion) -> str:
    """One line of the server's NDJSON format."""
    return (
        f'{{"start": {region.start}, "end": {region.end}, "categories": {_names_json(region.categories)}}}\n'
    )


def trailer_ndjson(walk_end: int | None, regions: int, pages: int) -> str:
    return json.dumps({"walk_end": walk_end, "regions": regions, "pages": pages}) + "\n"


def region_text(region: PageRegion, page_size: int) -> str:
    names = "|".join(category_names(region.categories)) or "-"
    return f"{region.start:016x}-{region.end:016x} {region.pages(page_size):>9} {names}\n"


def binary_record(start: int, end: int, categories: int) -> bytes:
    return _RECORD.pack(start, end, categories)


def binary_trailer(walk_end: int, regions: int) -> bytes:
    return _RECORD.pack(TRAILER_MARK, walk_end, regions)


def summary_json(summary: Summary) -> dict[str, Any]:
    """The server's ``SummaryResponse`` shape."""
    document: dict[str, Any] = {
        "pid": summary.pid,
        "start": summary.start,
        "end": summary.end,
        "walk_end": summary.walk_end,
        "pages": summary.pages,
        "categories": {c.name: n for c, n in summary.categories.items()},
    }
    if summary.vmas is not None:
        document["vmas"] = [
            {
                "start": v.start,
                "end": v.end,
                "perms": v.perms,
                "path": v.path,
                "pages": v.pages,
                "categories": {c.name: n for c, n in v.categories.items()},
            }
            for v in summary.vmas
        ]
    return document


def maps_text(mappings: Iterable[MappingInfo]) -> str:
    """As ``/proc/PID/maps`` prints them."""
    return "".join(
        f"{m.start:08x}-{m.end:08x} {m.perms} {m.offset:08x} {m.dev} {m.inode:<10d} {m.path}".rstrip() + "\n"
        for m in mappings
    )


def capabilities_text(capabilities: Capabilities) -> str:
    document = capabilities.to_dict()
    limits = document.pop("limits", {})
    lines = [f"{key}: {_scalar(value)}" for key, value in sorted(document.items())]
    lines += [f"limits.{key}: {value}" for key, value in sorted(limits.items())]
    return "\n".join(lines) + "\n"


def _scalar(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and value > 1 << 32:
        return f"{value:#x}"
    return str(value)


def error_json(error: Exception) -> dict[str, Any]:
    return {
        "type": type(error).__name__,
        "message": str(error),
        "status": getattr(error, "status", None),
        "code": getattr(error, "code", None),
    }


def fleet_json(result: FleetResult[Any]) -> dict[str, Any]:
    """``{"nodes": {url: answer}, "errors": {url: error}}``, plus ``total`` for summaries."""

    def plain(answer: Any) -> Any:
        if isinstance(answer, Summary):
            return summary_json(answer)
        if isinstance(answer, list):
            return [plain(a) for a in answer]
        return answer.to_dict() if hasattr(answer, "to_dict") else answer

    document: dict[str, Any] = {
        "nodes": {node: plain(answer) for node, answer in result.results.items()},
        "errors": {node: error_json(error) for node, error in result.errors.items()},
    }
    if isinstance(result, FleetSummary):
        document["total"] = {
            "pages": result.pages,
            "categories": {c.name: n for c, n in result.categories.items()},
        }
    return document
