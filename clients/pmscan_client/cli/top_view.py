"""``pmscan top``: the node's process groups, or its processes, sorted by a page category.

Groups are the node's exported ones (``PMSCAN_EXPORT_GROUPS``), read from its ``/metrics``:
the numbers Prometheus would store. Processes are each one's ``POST /summary``, asking only for
the categories shown (``file`` costs the kernel a page lookup per present page: it is shown when
sorted by). A process that exits, or that the node may not scan, is left out.

The rows become one :class:`rich.table.Table`; rich draws it in place every ``interval`` seconds
on a terminal, and prints it plainly (no colours, no cursor movement) elsewhere. ``--json``
prints one JSON document per refresh instead, sizes in bytes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from prometheus_client.parser import text_string_to_metric_families
from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

from .. import AccessDenied, Category, Client, ProcessGone, ProcessNotFound

__all__ = ["SHOWN", "SORT_KEYS", "Row", "group_rows", "process_rows", "run_top", "top_table"]

#: The categories shown by default: those the page tables alone answer.
SHOWN = ("present", "swapped", "huge", "pfnzero")
#: What rows can be sorted by: their mapped size, or any category.
SORT_KEYS = ("mapped", *(c.name.lower() for c in Category if c.name))


@dataclass
class Row:
    """A group (``name``, ``processes``) or a process (``pid``, ``name`` its comm); sizes in bytes."""

    name: str
    mapped: int
    categories: dict[str, int] = field(default_factory=dict)
    processes: int | None = None
    pid: int | None = None

    def key(self, by: str) -> int:
        return self.mapped if by == "mapped" else self.categories.get(by, 0)


def group_rows(metrics: str) -> list[Row]:
    """The groups in a node's ``/metrics`` text (none when it exports no groups)."""
    rows: dict[str, Row] = {}
    for family in text_string_to_metric_families(metrics):
        if not family.name.startswith("pmscan_group_"):
            continue
        for sample in family.samples:
            group = sample.labels.get("group")
            if group is None:
                continue
            row = rows.setdefault(group, Row(name=group, mapped=0, processes=0))
            value = int(sample.value)
            if sample.name == "pmscan_group_processes":
                row.processes = value
            elif sample.name == "pmscan_group_mapped_bytes":
                row.mapped = value
            elif sample.name == "pmscan_group_memory_bytes":
                row.categories[sample.labels["category"]] = value
    return list(rows.values())


def process_rows(client: Client, categories: Iterable[str], page_size: int) -> list[Row]:
    """One row per process of the node that may be scanned, with the pages of ``categories``."""
    mask = Category(0)
    for name in categories:
        mask |= Category[name.upper()]
    rows = []
    for process in client.processes():
        try:
            summary = client.summary(process.pid, return_mask=mask)
        except (ProcessGone, ProcessNotFound, AccessDenied):
            continue  # exited meanwhile, a kernel thread, pmscan itself, the deny list
        rows.append(
            Row(
                name=process.comm,
                pid=process.pid,
                mapped=summary.pages * page_size,
                categories={
                    (c.name or "").lower(): summary.categories.get(c, 0) * page_size
                    for c in Category
                    if c & mask
                },
            )
        )
    return rows


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


def top_table(
    rows: list[Row], *, groups: bool, by: str, columns: Iterable[str], title: str | None, plain: bool
) -> Table:
    """The rows (of groups or of processes) as a table, the sorted column marked; ``plain``: no
    borders or colours."""
    table = Table(title=title, box=None if plain else box.SIMPLE_HEAD, title_justify="left")
    if groups:
        table.add_column("GROUP")
        table.add_column("PROCS", justify="right")
    else:
        table.add_column("PID", justify="right")
        table.add_column("COMM")
    names = ["mapped", *columns]
    for name in names:
        header = name.upper() + (" ▼" if name == by and not plain else " *" if name == by else "")
        table.add_column(header, justify="right", style=None if plain or name != by else "bold")
    for row in rows:
        first = [row.name, str(row.processes)] if groups else [str(row.pid), row.name]
        cells = [_size(row.mapped), *(_size(row.categories.get(c, 0)) for c in columns)]
        table.add_row(*first, *cells)
    return table


def run_top(
    client: Client,
    out: TextIO,
    *,
    groups: bool,
    by: str,
    limit: int,
    interval: float | None,
    count: int | None,
    as_json: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Print the top ``limit`` rows by ``by`` once, or every ``interval`` seconds (``count``
    times, or until interrupted). Returns the exit code."""
    columns = list(SHOWN) if by in ("mapped", *SHOWN) else [*SHOWN, by]
    page_size = client.capabilities().page_size

    def rows() -> list[Row]:
        found = group_rows(client.metrics()) if groups else process_rows(client, columns, page_size)
        found.sort(key=lambda row: (-row.key(by), row.name))
        return found[:limit] if limit else found

    console = Console(file=out, highlight=False)
    plain = not console.is_terminal
    if plain:  # no terminal to fit: long names are not folded
        console = Console(file=out, highlight=False, width=200)
    what = "groups" if groups else "processes"

    def title(found: list[Row]) -> str:
        note = "" if found or not groups else " (the node exports none: PMSCAN_EXPORT_GROUPS)"
        return f"pmscan top: {what} by {by}{note}  {time.strftime('%H:%M:%S')}"

    def drawn(found: list[Row]) -> Table:
        # Off a terminal the title is a line of its own: a table's title would be folded.
        return top_table(
            found, groups=groups, by=by, columns=columns, title=None if plain else title(found), plain=plain
        )

    def show(found: list[Row]) -> None:
        if as_json:
            document = {"by": by, what: [_json_row(r) for r in found]}
            out.write(json.dumps(document) + "\n")
            out.flush()
            return
        if plain:
            out.write(title(found) + "\n")
        console.print(drawn(found))

    ticks = 1 if interval is None else count
    if interval is None or plain or as_json:  # once, or one table (document) after another
        tick = 0
        while True:
            show(rows())
            tick += 1
            if ticks is not None and tick >= ticks:
                return 0
            assert interval is not None
            sleep(interval)
    with Live(drawn(rows()), console=console, auto_refresh=False) as live:
        tick = 1
        while ticks is None or tick < ticks:
            sleep(interval)
            live.update(drawn(rows()), refresh=True)
            tick += 1
    return 0


def _json_row(row: Row) -> dict[str, Any]:
    document = {k: v for k, v in asdict(row).items() if v is not None}
    document["mapped_bytes"] = document.pop("mapped")
    document["categories_bytes"] = document.pop("categories")
    return document
