"""The tables of ``pmscan`` for people: one rich ``Table`` whether or not it goes to a terminal.

Sizes are KiB (1024 bytes) in every table, and a column of sizes says so in its header
(``Size KiB``, ``PRESENT KiB``, ``RSS KiB``); page counts are in columns headed ``pages``.

:func:`table` draws it with rules and colour on a terminal and as bare columns (two spaces
apart, a header line first) elsewhere, so that ``pmscan ps | awk`` keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .. import Category, ContainerInfo, FleetSummary, ProcessInfo, Summary, WorkloadSummary

__all__ = [
    "SHORT_ID",
    "UNITS",
    "containers_table",
    "fleet_table",
    "kib_header",
    "locate_table",
    "processes_table",
    "short_id",
    "skipped_lines",
    "stacked",
    "summary_table",
    "table",
    "workload_table",
]


#: The digits of a container id a table shows (as ``docker ps`` does; ``--json`` has all 64).
SHORT_ID = 12


def short_id(container_id: str | None) -> str:
    return (container_id or "")[:SHORT_ID] or "-"


#: The units a header may end with.
UNITS = ("KiB", "pages")


def stacked(header: str) -> str:
    """``PRESENT KiB`` as two lines, the unit under the name: a terminal's table stays as narrow
    as its numbers (plain text keeps one header line, for scripts)."""
    name, _, unit = header.rpartition(" ")
    return f"{name}\n{unit}" if name and unit in UNITS else header


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
    if terminal:
        headers = [stacked(header) for header in headers]
    columns = list(zip(headers, *cells, *([total] if total else []), strict=True))
    for index, (header, *column) in enumerate(columns):
        widest = max(len(cell) for cell in (*header.splitlines(), *column))
        drawn.add_column(
            header,
            footer=total[index] if total else "",
            justify="left" if index in left else "right",
            # rich narrows a table too wide for the terminal by its wrappable columns, and
            # otherwise every column (some to nothing): the one that shrinks is wrappable, and
            # its cells are cut with an ellipsis instead of wrapped.
            no_wrap=index != shrinks,
            overflow="ellipsis",
            min_width=None if index == shrinks else widest,
        )
    for row in cells:
        drawn.add_row(*(_cut(cell) if index == shrinks else cell for index, cell in enumerate(row)))
    return drawn


def _cut(cell: str) -> Text:
    return Text(cell, no_wrap=True, overflow="ellipsis")


def _kib(pages: int, page_size: int) -> int:
    return pages * page_size // 1024


def _columns(categories: Iterable[Category]) -> list[Category]:
    return sorted(set(categories), key=lambda c: c.value)


def kib_header(name: str) -> str:
    """The header of a column of sizes: its name and the unit, ``PRESENT KiB``."""
    return f"{name} KiB"


def summary_table(summary: Summary, page_size: int, *, terminal: bool = False) -> RenderableType:
    """Pages and KiB per category; with ``vmas``, one row per mapping as ``pmap -X`` does, in
    KiB (every size column says so in its header)."""
    if summary.vmas is None:
        head = Text(
            f"pid {summary.pid}  [{summary.start:#x}, {summary.end:#x})  {summary.pages} pages "
            f"({_kib(summary.pages, page_size)} KiB)",
            style="bold" if terminal else "",
        )
        totals = [(c.name, n, _kib(n, page_size)) for c, n in summary.categories.items()]
        return Group(head, table(("category", "pages", "KiB"), totals, left=(0,), terminal=terminal))
    columns = _columns(summary.categories)
    headers = (
        "Address",
        "Perm",
        kib_header("Size"),
        kib_header("Matched"),
        *(kib_header(c.name or "") for c in columns),
        "Mapping",
    )
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
    sum_row: list[Any] = ["total", "", size, *sums, ""]
    return table(headers, rows, left=(0, 1, last), totals=sum_row, terminal=terminal, shrinks=last)


def processes_table(processes: Iterable[ProcessInfo], *, terminal: bool = False) -> Table:
    rows = [(p.pid, p.uid, p.rss_bytes // 1024, p.comm) for p in processes]
    headers = ("PID", "UID", kib_header("RSS"), "COMMAND")
    return table(headers, rows, left=(3,), terminal=terminal, shrinks=3)


def fleet_table(result: FleetSummary, page_sizes: Mapping[str, int], *, terminal: bool = False) -> Table:
    """One row per node that answered (``page_sizes``: each one's), then the totals; sizes in
    KiB, as ``summary --by-vma`` gives them (pages would not add up over nodes of different
    page sizes). Failed nodes are not rows."""
    columns = _columns(result.categories)
    headers = ("Node", "PID", kib_header("Matched"), *(kib_header(c.name or "") for c in columns))
    rows: list[list[Any]] = []
    sums = [0] * (1 + len(columns))
    for node, s in result.results.items():
        sizes = [_kib(n, page_sizes[node]) for n in (s.pages, *(s.categories.get(c, 0) for c in columns))]
        sums = [a + b for a, b in zip(sums, sizes, strict=True)]
        rows.append([node, s.pid, *sizes])
    return table(headers, rows, left=(0,), totals=["total", "", *sums], terminal=terminal)


def containers_table(containers: Iterable[ContainerInfo], *, terminal: bool = False) -> Table:
    """One row per container: its id (12 digits), runtime, pod, QoS class and processes."""
    rows = [
        (short_id(c.container_id), c.runtime or "-", c.pod_uid or "-", c.qos or "-", len(c.pids))
        for c in containers
    ]
    return table(
        ("CONTAINER", "RUNTIME", "POD UID", "QOS", "PROCS"), rows, left=(0, 1, 2, 3), terminal=terminal
    )


def workload_table(summary: WorkloadSummary, page_size: int, *, terminal: bool = False) -> RenderableType:
    """One row per process of a pod or a container (its container's 12 digits), KiB per
    category as ``summary --by-vma`` gives them, the totals; then the processes skipped."""
    columns = _columns(summary.categories)
    container_of = {pid: c.container_id for c in summary.containers for pid in c.pids}
    headers = ("PID", "CONTAINER", kib_header("Matched"), *(kib_header(c.name or "") for c in columns))
    rows: list[list[Any]] = [
        [
            p.pid,
            short_id(container_of.get(p.pid)),
            _kib(p.pages, page_size),
            *(_kib(p.categories.get(c, 0), page_size) for c in columns),
        ]
        for p in summary.processes
    ]
    sums = [_kib(summary.pages, page_size), *(_kib(summary.categories.get(c, 0), page_size) for c in columns)]
    what = f"pod {summary.pod_uid}" if summary.pod_uid else f"container {summary.container_id}"
    head = Text(
        f"{what}  {_count(len(summary.containers), 'container')}  "
        f"{_count(len(summary.processes), 'process', 'processes')}  "
        f"{summary.pages} pages ({_kib(summary.pages, page_size)} KiB)",
        style="bold" if terminal else "",
    )
    drawn = table(headers, rows, left=(1,), totals=["total", "", *sums], terminal=terminal)
    skipped = skipped_lines(summary)
    return Group(head, drawn, *(Text(line) for line in skipped))


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def skipped_lines(summary: WorkloadSummary) -> list[str]:
    """``skipped:`` then ``pid N: CODE reason`` for each process the summary left out."""
    lines = [f"pid {s.pid}: {s.code} {s.reason}" for s in summary.skipped]
    return ["skipped:", *lines] if lines else []


def locate_table(located: Mapping[str, list[ContainerInfo]], *, terminal: bool = False) -> Table:
    """One row per container per node that runs the workload."""
    rows = [
        (node, short_id(c.container_id), c.runtime or "-", c.qos or "-", len(c.pids))
        for node, containers in located.items()
        for c in containers
    ]
    return table(("NODE", "CONTAINER", "RUNTIME", "QOS", "PROCS"), rows, left=(0, 1, 2, 3), terminal=terminal)
