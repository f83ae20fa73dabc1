"""``pmscan map PID``: a picture of a process's address space.

One row per mapping (contiguous segments of one file, and tiny neighbours such as guard or
fence pages, merged into the row before them), each a bar of cells. A cell stands for a
slice of its row's pages; its colour (its letter, in plain output) is the state that most of
the slice's pages are in: present anonymous, present file, huge, swapped, zero page, guard,
or not populated. A row's permissions are those of its largest part, marked ``+`` when other
parts have others (libc's ``r-xp+``: its text, with read-only and writable data beside it),
never a union that no part has (``rwxp``, which would read as a W^X violation).

One scan of the whole range asks the kernel only for populated pages (``category_anyof_mask``
of the present, swapped, zero-page and guard bits): empty space — a 16 GiB sparse mapping —
is skipped by the kernel's page-table walk, never reported page by page.
"""

from __future__ import annotations

import enum
import os
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from rich.console import Group
from rich.text import Text

from .. import Category, MappingInfo, PageRegion
from .console import human_bytes

__all__ = [
    "PERMS_NOTE",
    "POPULATED",
    "REPORTED",
    "TINY_PAGES",
    "Cell",
    "Part",
    "Row",
    "State",
    "cells_of",
    "document",
    "layout",
    "paint",
    "picture",
    "picture_width",
    "rows_of",
    "state_of",
]


class State(enum.Enum):
    """A page's state in the picture: ``(name, colour, letter)``; the order breaks ties."""

    GUARD = ("guard", "bright_red", "G")
    SWAPPED = ("swapped", "yellow", "S")
    HUGE = ("huge", "magenta", "H")
    # White, not cyan: cyan is hard to tell from blue (file), in SVG above all.
    ZERO = ("zero page", "white", "Z")
    FILE = ("present file", "blue", "F")
    ANON = ("present anon", "green", "A")
    EMPTY = ("not populated", "bright_black", ".")

    @property
    def label(self) -> str:
        return self.value[0]

    @property
    def colour(self) -> str:
        return self.value[1]

    @property
    def letter(self) -> str:
        return self.value[2]


STATES = tuple(State)
_INDEX = {state: index for index, state in enumerate(STATES)}
#: The categories that make a page populated: the scan's ``category_anyof_mask``.
POPULATED = Category.PRESENT | Category.SWAPPED | Category.PFNZERO | Category.GUARD
#: The categories the states are told apart by: the scan's ``return_mask``.
REPORTED = POPULATED | Category.FILE | Category.HUGE
#: What ``+`` after a row's permissions says (the legend's last line).
PERMS_NOTE = "perm+: the row joins mappings of other permissions; shown: those of its largest part"
#: Mappings of at most this many pages join the row before them when contiguous with it.
TINY_PAGES = 16


def state_of(categories: int) -> State:
    """The state of pages with these category bits (guard pages also report SWAPPED)."""
    if categories & Category.GUARD:
        return State.GUARD
    if categories & Category.SWAPPED:
        return State.SWAPPED
    if categories & Category.PRESENT:
        if categories & Category.HUGE:
            return State.HUGE
        if categories & Category.PFNZERO:
            return State.ZERO
        if categories & Category.FILE:
            return State.FILE
        return State.ANON
    return State.EMPTY


class Cell(NamedTuple):
    """A slice of a row: the state most of its pages are in, or, for a slice mostly not
    populated that has some populated pages (``sparse``), the state most of those are in."""

    state: State
    sparse: bool = False


EMPTY_CELL = Cell(State.EMPTY)


class Part(NamedTuple):
    """One mapping of a row: ``[start, end)`` and its permissions, as ``/proc/PID/maps`` has it."""

    start: int
    end: int
    perms: str


@dataclass
class Row:
    """``[start, end)`` (bytes): one mapping, or several merged (``parts``); ``cells`` once
    painted."""

    start: int
    end: int
    path: str
    parts: list[Part]
    #: Pages per state over the whole row (populated states only).
    pages: dict[State, int] = field(default_factory=dict)
    cells: list[Cell] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def name(self) -> str:
        if not self.path:
            return "[anon]"
        return self.path if self.path.startswith("[") else os.path.basename(self.path) or self.path

    @property
    def perms(self) -> str:
        """The permissions of the row's largest part (the first of the largest)."""
        sizes: dict[str, int] = {}
        for part in self.parts:
            sizes[part.perms] = sizes.get(part.perms, 0) + part.end - part.start
        return max(sizes, key=lambda perms: sizes[perms])

    @property
    def mixed(self) -> bool:
        """Whether parts of the row have other permissions than :attr:`perms`."""
        return len({part.perms for part in self.parts}) > 1

    @property
    def shown_perms(self) -> str:
        """:attr:`perms`, and ``+`` when the row is :attr:`mixed`."""
        return self.perms + ("+" if self.mixed else "")


def rows_of(mappings: Iterable[MappingInfo], *, page_size: int, limit: int) -> list[Row]:
    """The rows of the mappings below ``limit`` (the user address-space limit).

    Contiguous mappings of one file make one row. A tiny mapping (at most ``TINY_PAGES``
    pages: a guard page, a fence, a library's ``.bss``) joins the row before it when
    contiguous with it; a tiny anonymous row left alone joins the mapping right after it.
    """
    rows: list[Row] = []
    for mapping in mappings:
        if mapping.end > limit:
            continue
        part = Part(mapping.start, mapping.end, mapping.perms)
        last = rows[-1] if rows else None
        if last is not None and last.end == mapping.start:
            tiny = (mapping.end - mapping.start) // page_size <= TINY_PAGES
            if tiny or (mapping.path and mapping.path == last.path):
                last.end = mapping.end
                last.parts.append(part)
                continue
            if not last.path and last.size // page_size <= TINY_PAGES:
                last.end, last.path = mapping.end, mapping.path
                last.parts.append(part)
                continue
        rows.append(Row(mapping.start, mapping.end, mapping.path, [part]))
    return rows


def paint(rows: Sequence[Row], regions: Iterable[PageRegion], *, cells: int, page_size: int) -> None:
    """Give each row ``cells`` cells, from the populated ``regions`` (address order)."""
    counts = [[[0] * len(STATES) for _ in range(cells)] for _ in rows]
    bounds = [_bounds(row, cells, page_size) for row in rows]
    first = 0
    for region in regions:
        state = _INDEX[state_of(region.categories)]
        while first < len(rows) and rows[first].end <= region.start:
            first += 1
        index = first
        while index < len(rows) and rows[index].start < region.end:
            row = rows[index]
            low = (max(region.start, row.start) - row.start) // page_size
            high = (min(region.end, row.end) - row.start) // page_size
            if high > low:
                _add(counts[index], bounds[index], low, high, state)
                row.pages[STATES[state]] = row.pages.get(STATES[state], 0) + high - low
            index += 1
    for row, row_counts, row_bounds in zip(rows, counts, bounds, strict=True):
        row.cells = [_dominant(c, row_bounds[k + 1] - row_bounds[k]) for k, c in enumerate(row_counts)]


def _bounds(row: Row, cells: int, page_size: int) -> list[int]:
    """Page offsets where each cell starts (and where the last ends); a row of fewer pages
    than cells shows each page in several cells."""
    pages = row.size // page_size
    if pages >= cells:
        return [k * pages // cells for k in range(cells + 1)]
    starts = [k * pages // cells for k in range(cells)]
    return [*starts, pages] if not starts else [*starts, starts[-1] + 1]


def _add(counts: list[list[int]], bounds: list[int], low: int, high: int, state: int) -> None:
    cells = len(counts)
    if bounds[-1] - bounds[0] < cells:  # a small row: cells share pages
        for k in range(cells):
            page = bounds[k]
            if low <= page < high:
                counts[k][state] += 1
        return
    k = bisect_right(bounds, low) - 1
    while k < cells and bounds[k] < high:
        counts[k][state] += min(high, bounds[k + 1]) - max(low, bounds[k])
        k += 1


def _dominant(counts: list[int], pages: int) -> Cell:
    populated = sum(counts)
    if not populated:
        return EMPTY_CELL
    empty = max(pages - populated, 0)
    best = max(range(len(STATES) - 1), key=lambda i: (counts[i], -i))
    return Cell(STATES[best], sparse=counts[best] < empty)


def document(rows: Sequence[Row], *, pid: int, page_size: int) -> dict[str, Any]:
    """The picture for scripts (``--json``): each row with its cells as the plain letters;
    ``perms`` are its largest part's, ``parts`` each mapping it joins with its own."""
    return {
        "pid": pid,
        "page_size": page_size,
        "rows": [
            {
                "start": row.start,
                "end": row.end,
                "perms": row.perms,
                "path": row.path,
                "parts": [part._asdict() for part in row.parts],
                "name": row.name,
                "pages": {state.label: n for state, n in row.pages.items()},
                "cells": "".join(_glyph(cell, colour=False) for cell in row.cells),
            }
            for row in rows
        ],
    }


# ---- drawing ---------------------------------------------------------------------------------

#: Columns before the bar: address (12), perms (5: ``r-xp+``), size (9), with a space after each.
_PREFIX = 12 + 1 + 5 + 1 + 9 + 1
#: Names are cut to no fewer columns than this, when they must be.
_NAME_LEAST = 16


def layout(width: int, longest: int = _NAME_LEAST) -> tuple[int, int]:
    """``(cells, name width)`` of a picture ``width`` columns wide (at least 60) whose longest
    name is ``longest``: names are whole unless they would take more than a third of the
    columns after the address, perms and size (and the bar the rest)."""
    width = max(width, 60)
    room = width - _PREFIX - 1
    name = max(min(longest, max(room // 3, _NAME_LEAST)), len("mapping"))
    return room - name, name


def _widths(rows: Sequence[Row], width: int, *, whole_names: bool) -> tuple[int, int]:
    longest = max((len(row.name) for row in rows), default=0)
    cells, name_width = layout(width, longest)
    return cells, max(name_width, longest) if whole_names else name_width


def cells_of(rows: Sequence[Row], width: int) -> int:
    """How many cells the bars of ``rows`` have in a picture ``width`` columns wide."""
    return layout(width, max((len(row.name) for row in rows), default=0))[0]


def picture_width(rows: Sequence[Row], width: int, *, whole_names: bool = False) -> int:
    """The columns the :func:`picture` of ``rows`` takes (``width``, or wider ``whole_names``)."""
    cells, name_width = _widths(rows, width, whole_names=whole_names)
    return _PREFIX + cells + 1 + name_width


def picture(
    rows: Sequence[Row], *, pid: int, page_size: int, width: int, colour: bool, whole_names: bool = False
) -> Group:
    """The header, one line per row, and the legend, as rich renderables. ``whole_names``: the
    picture is as wide as its longest name needs (for an SVG, which has no terminal to fit),
    with the bar of ``width``."""
    bar_width, name_width = _widths(rows, width, whole_names=whole_names)
    width = picture_width(rows, width, whole_names=whole_names)
    mapped = sum(row.size for row in rows)
    totals = {state: sum(row.pages.get(state, 0) for row in rows) for state in STATES[:-1]}
    populated = sum(totals.values())
    header = Text(
        f"pid {pid}: {len(rows)} rows, {human_bytes(mapped)} mapped, "
        f"{human_bytes(populated * page_size)} populated",
        style="bold" if colour else "",
    )
    columns = Text()
    _put(columns, "address", 12, right=True)
    _put(columns, " perm  ")
    _put(columns, "size", 9, right=True)
    _put(columns, " ")
    _put(columns, "pages", bar_width)
    _put(columns, " ")
    _put(columns, "mapping")
    lines: list[Text] = [header, columns]
    for row in rows:
        line = Text()
        _put(line, f"{row.start:x}", 12, right=True)
        _put(line, " ")
        _put(line, row.shown_perms, 5)
        _put(line, " ")
        _put(line, human_bytes(row.size), 9, right=True)
        _put(line, " ")
        line.append_text(_bar(row.cells, colour))
        _put(line, " ")
        _put(line, _cut(row.name, name_width))
        lines.append(line)
    lines.append(Text())
    lines.extend(_legend(totals, page_size, width, colour))
    for line in lines:
        line.no_wrap = True
        line.overflow = "crop"
    if any(row.mixed for row in rows):
        note = Text()  # folded at the picture's width, between words
        _put(note, f"{PERMS_NOTE} (pmscan maps {pid} lists each mapping)")
        lines.append(note)
    return Group(*lines)


def _put(line: Text, text: str, width: int = 0, *, right: bool = False, style: str = "none") -> None:
    """Append ``text``, padded to ``width``. Spaces and words go in segments of their own, so
    that an SVG places each word at its column: renderers drop the spaces that begin a text
    element, which would move a right-aligned column (or a whole line) to the left."""
    pad = " " * max(width - len(text), 0)
    if right:
        line.append(pad)
    words = text.split(" ")
    for index, word in enumerate(words):
        if index:
            line.append(" ")
        if word:
            line.append(word, style=style)
    if not right:
        line.append(pad)


def _legend(totals: dict[State, int], page_size: int, width: int, colour: bool) -> list[Text]:
    """The states, their glyphs and their sizes, packed into lines of at most ``width``."""
    entries: list[Text] = []
    for state in STATES[:-1]:
        entry = Text(_glyph(Cell(state), colour), style=state.colour if colour else "")
        _put(entry, f" {state.label} {human_bytes(totals[state] * page_size)}")
        entries.append(entry)
    sparse = Text(_glyph(Cell(State.ANON, sparse=True), colour), style=State.ANON.colour if colour else "")
    _put(
        sparse,
        " mostly not populated (in the colour of the rest)"
        if colour
        else " (lower case) mostly not populated",
    )
    entries.append(sparse)
    empty = Text(_glyph(EMPTY_CELL, colour), style=State.EMPTY.colour if colour else "")
    _put(empty, " not populated")
    entries.append(empty)
    lines = [Text()]
    for entry in entries:
        if lines[-1].cell_len and lines[-1].cell_len + 3 + entry.cell_len > width:
            lines.append(Text())
        if lines[-1].cell_len:
            lines[-1].append("   ")
        lines[-1].append_text(entry)
    return lines


def _glyph(cell: Cell, colour: bool) -> str:
    if cell.state is State.EMPTY:
        return "·" if colour else "."
    if colour:
        return "░" if cell.sparse else "█"
    return cell.state.letter.lower() if cell.sparse else cell.state.letter


def _bar(cells: Sequence[Cell], colour: bool) -> Text:
    bar = Text()
    run_start = 0
    for index in range(1, len(cells) + 1):
        if index == len(cells) or cells[index] != cells[run_start]:
            cell = cells[run_start]
            style = cell.state.colour if colour else "none"
            bar.append(_glyph(cell, colour) * (index - run_start), style=style)
            run_start = index
    return bar


def _cut(name: str, width: int) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"
