"""How the ``pmscan`` command prints answers: rich tables for people, JSON for scripts.

A table is one rich ``Table`` either way; :func:`_table` draws it with rules and colour on a
terminal and as bare columns (two spaces apart, a header line first) elsewhere, so that
``pmscan ps | awk`` keeps working. The pipe formats (NDJSON, JSON, binary records) are
plain text or bytes, never drawn.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

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


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    left: Sequence[int] = (),
    totals: Sequence[Any] | None = None,
    terminal: bool = False,
    shrinks: int | None = None,
) -> Table:
    """A table of ``rows``: numbers right-aligned, columns in ``left`` not. ``totals``: a last
    row under a rule (on a terminal, the footer). Cells are never cut, except in the column
    ``shrinks`` (a path, say) when the terminal is too narrow for the whole table."""
    cells = [[str(cell) for cell in row] for row in rows]
    total = [str(cell) for cell in totals] if totals is not None else None
    if terminal:
        drawn = Table(
            box=box.SIMPLE, header_style="bold", footer_style="bold", pad_edge=False, show_edge=False,
            show_footer=total is not None,
        )  # fmt: skip
    else:
        drawn = Table(box=None, show_header=True, header_style="", pad_edge=False, padding=(0, 1))
        if total is not None:
            widths = [max(len(cell) for cell in column) for column in zip(*cells, total, strict=True)]
            cells.append(["=" * w if t else "" for w, t in zip(widths, total, strict=True)])
            cells.append(total)
            total = None
    columns = list(zip(headers, *cells, *([total] if total else []), strict=True))
    for index, (header, *column) in enumerate(columns):
        widest = max(len(cell) for cell in (header, *column))
        drawn.add_column(
            header,
            footer=total[index] if total else "",
            justify="left" if index in left else "right",
            no_wrap=True,
            min_width=None if index == shrinks else widest,
        )
    for row in cells:
        drawn.add_row(*row)
    return drawn


def _kib(pages: int, page_size: int) -> int:
    return pages * page_size // 1024


def _columns(categories: Iterable[Category]) -> list[Category]:
    return sorted(set(categories), key=lambda c: c.value)


def summary_table(summary: Summary, page_size: int, *, terminal: bool = False) -> RenderableType:
    """Totals per category; with ``vmas``, one row per mapping as ``pmap -X`` does (KiB)."""
    if summary.vmas is None:
        head = Text(
            f"pid {summary.pid}  [{summary.start:#x}, {summary.end:#x})  {summary.pages} pages "
            f"({_kib(summary.pages, page_size)} KiB)",
            style="bold" if terminal else "",
        )
        totals = [(c.name, n, _kib(n, page_size)) for c, n in summary.categories.items()]
        return Group(head, table(("category", "pages", "KiB"), totals, left=(0,), terminal=terminal))
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
    last = len(headers) - 1
    sum_row: list[Any] = ["", "", size, *sums, "KiB"]
    return table(headers, rows, left=(0, 1, last), totals=sum_row, terminal=terminal, shrinks=last)


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


def processes_table(processes: Iterable[ProcessInfo], *, terminal: bool = False) -> Table:
    rows = [(p.pid, p.uid, p.rss_bytes // 1024, p.comm) for p in processes]
    return table(("PID", "UID", "RSS KiB", "COMMAND"), rows, left=(3,), terminal=terminal, shrinks=3)


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


def fleet_table(result: FleetSummary, *, terminal: bool = False) -> Table:
    """One row per node that answered, then the totals, in pages (nodes may differ in page
    size); failed nodes are not rows."""
    columns = _columns(result.categories)
    headers = ("Node", "PID", "Pages", *(c.name or "" for c in columns))
    rows: list[list[Any]] = [
        [node, s.pid, s.pages, *(s.categories.get(c, 0) for c in columns)]
        for node, s in result.results.items()
    ]
    totals = ["total", "", result.pages, *(result.categories[c] for c in columns)]
    return table(headers, rows, left=(0,), totals=totals, terminal=terminal)


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
