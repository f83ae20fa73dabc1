"""How the ``pmscan`` command prints answers: tables for people, JSON for scripts."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from ._categories import Category
from ._fleet import FleetResult, FleetSummary
from ._models import Capabilities, MappingInfo, PageRegion, ProcessInfo, Summary

__all__ = [
    "binary_record",
    "capabilities_text",
    "error_json",
    "fleet_json",
    "fleet_table",
    "maps_text",
    "processes_table",
    "region_ndjson",
    "region_text",
    "summary_json",
    "summary_table",
    "table",
    "trailer_ndjson",
]

_RECORD = struct.Struct("<QQQ")
TRAILER_MARK = (1 << 64) - 1


@cache
def _names(categories: Category) -> list[str]:
    return [c.name for c in Category if c.name and categories & c]


@cache
def _names_json(categories: Category) -> str:
    return json.dumps(_names(categories))


def region_ndjson(region: PageRegion) -> str:
    """One line of the server's NDJSON format."""
    return (
        f'{{"start": {region.start}, "end": {region.end}, "categories": {_names_json(region.categories)}}}\n'
    )


def trailer_ndjson(walk_end: int | None, regions: int, pages: int) -> str:
    return json.dumps({"walk_end": walk_end, "regions": regions, "pages": pages}) + "\n"


def region_text(region: PageRegion, page_size: int) -> str:
    names = "|".join(_names(region.categories)) or "-"
    return f"{region.start:016x}-{region.end:016x} {region.pages(page_size):>9} {names}\n"


def binary_record(start: int, end: int, categories: int) -> bytes:
    return _RECORD.pack(start, end, categories)


def binary_trailer(walk_end: int, regions: int) -> bytes:
    return _RECORD.pack(TRAILER_MARK, walk_end, regions)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, left: Sequence[int] = ()) -> str:
    """Columns padded to their widest cell; numbers right-aligned, columns in ``left`` not."""
    cells = [[str(h) for h in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


def _kib(pages: int, page_size: int) -> int:
    return pages * page_size // 1024


def _columns(categories: Iterable[Category]) -> list[Category]:
    return sorted(set(categories), key=lambda c: c.value)


def summary_table(summary: Summary, page_size: int) -> str:
    """Totals per category; with ``vmas``, one row per mapping as ``pmap -X`` does (KiB)."""
    if summary.vmas is None:
        head = (
            f"pid {summary.pid}  [{summary.start:#x}, {summary.end:#x})  {summary.pages} pages "
            f"({_kib(summary.pages, page_size)} KiB)\n"
        )
        totals = [(c.name, n, _kib(n, page_size)) for c, n in summary.categories.items()]
        return head + table(("category", "pages", "KiB"), totals, left=(0,))
    columns = _columns(summary.categories)
    headers = ("Address", "Perm", "Size", "Matched", *(c.name or "" for c in columns), "Mapping")
    rows: list[list[Any]] = [
        [
            f"{vma.start:x}",
            vma.perms,
            (vma.end - vma.start) // 1024,
            _kib(vma.pages, page_size),
            *(_kib(vma.categories.get(c, 0), page_size) for c in columns),
            vma.path,
        ]
        for vma in summary.vmas
    ]
    size = sum((vma.end - vma.start) // 1024 for vma in summary.vmas)
    sums = [_kib(summary.pages, page_size), *(_kib(summary.categories[c], page_size) for c in columns)]
    rows.append(["", "", "=" * len(str(size)), *("=" * len(str(t)) for t in sums), ""])
    rows.append(["", "", size, *sums, "KiB"])
    return table(headers, rows, left=(0, 1, len(headers) - 1))


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


def processes_table(processes: Iterable[ProcessInfo]) -> str:
    rows = [(p.pid, p.uid, p.rss_bytes // 1024, p.comm) for p in processes]
    return table(("PID", "UID", "RSS KiB", "COMMAND"), rows, left=(3,))


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


def fleet_table(result: FleetSummary) -> str:
    """One row per node that answered, then the totals, in pages (nodes may differ in page
    size); failed nodes are not rows."""
    columns = _columns(result.categories)
    headers = ("Node", "PID", "Pages", *(c.name or "" for c in columns))
    rows: list[list[Any]] = [
        [node, s.pid, s.pages, *(s.categories.get(c, 0) for c in columns)]
        for node, s in result.results.items()
    ]
    rows.append(["total", "", result.pages, *(result.categories[c] for c in columns)])
    return table(headers, rows, left=(0,))


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
