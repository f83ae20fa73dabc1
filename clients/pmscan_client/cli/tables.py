"""The tables of ``pmscan`` for people: one rich ``Table`` whether or not it goes to a terminal.

:func:`table` draws it with rules and colour on a terminal and as bare columns (two spaces
apart, a header line first) elsewhere, so that ``pmscan ps | awk`` keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .. import Category, FleetSummary, ProcessInfo, Summary

__all__ = ["fleet_table", "processes_table", "summary_table", "table"]


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


def processes_table(processes: Iterable[ProcessInfo], *, terminal: bool = False) -> Table:
    rows = [(p.pid, p.uid, p.rss_bytes // 1024, p.comm) for p in processes]
    return table(("PID", "UID", "RSS KiB", "COMMAND"), rows, left=(3,), terminal=terminal, shrinks=3)


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
