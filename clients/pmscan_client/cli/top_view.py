"""``pmscan top``: the node's process groups, its processes, or its containers, sorted by a page
category.

Groups are the node's exported ones (``PMSCAN_EXPORT_GROUPS``), read from its ``/metrics``:
the numbers Prometheus would store. Processes are each one's ``POST /summary``, asking only for
the categories shown (``file`` costs the kernel a page lookup per present page: it is shown when
sorted by). Containers are those process rows added up by their container (``--containers``),
with each container's pod and runtime from ``GET /containers``. A process that exits meanwhile,
or that the node may not scan (the kernel's ``EACCES``, its deny list, pmscan itself), is not a
row: the view says how many, and why.

The rows become one :class:`rich.table.Table`, sizes in KiB (the unit in each header); rich
draws it in place every ``interval`` seconds on a terminal (``q`` quits), and prints it plainly
(no colours, no cursor movement) elsewhere. ``--json`` prints one JSON document per refresh
instead, sizes in bytes.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from prometheus_client.parser import text_string_to_metric_families
from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

from .. import AccessDenied, Category, Client, ContainerInfo, PmscanError, ProcessGone, ProcessNotFound
from .keys import QUIT, Keys
from .tables import kib_header, short_id, stacked

__all__ = [
    "SHOWN",
    "SORT_KEYS",
    "NotShown",
    "Row",
    "container_rows",
    "group_rows",
    "not_shown_note",
    "process_rows",
    "run_top",
    "top_table",
]

#: The categories shown by default: those the page tables alone answer.
SHOWN = ("present", "swapped", "huge", "pfnzero")
#: What rows can be sorted by: their mapped size, or any category.
SORT_KEYS = ("mapped", *(c.name.lower() for c in Category if c.name))


@dataclass
class Row:
    """A group (``name``, ``processes``), a process (``pid``, ``name`` its comm, its
    ``container_id`` and ``pod_uid`` if any) or a container (``name`` and ``container_id`` its
    id, ``pod_uid``, ``runtime``, ``processes``); sizes in bytes."""

    name: str
    mapped: int
    categories: dict[str, int] = field(default_factory=dict)
    processes: int | None = None
    pid: int | None = None
    container_id: str | None = None
    pod_uid: str | None = None
    runtime: str | None = None

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


@dataclass(frozen=True)
class NotShown:
    """A process of the node that is no row, and why: the SDK's exception and the server's code."""

    pid: int
    name: str
    error: str
    code: str | None

    @property
    def reason(self) -> str:
        return _REASONS.get(self.error, self.error)


#: Why a process is not shown, in words, by the SDK's exception.
_REASONS = {
    AccessDenied.__name__: "access denied",
    ProcessGone.__name__: "exited",
    ProcessNotFound.__name__: "exited",
}


def process_rows(
    client: Client, categories: Iterable[str], page_size: int
) -> tuple[list[Row], list[NotShown]]:
    """One row per process of the node that may be scanned, with the pages of ``categories``;
    and the processes that are no row."""
    mask = Category(0)
    for name in categories:
        mask |= Category[name.upper()]
    rows, not_shown = [], []
    for process in client.processes():
        try:
            summary = client.summary(process.pid, return_mask=mask)
        except (ProcessGone, ProcessNotFound, AccessDenied) as error:
            not_shown.append(_not_shown(process.pid, process.comm, error))
            continue
        rows.append(
            Row(
                name=process.comm,
                pid=process.pid,
                container_id=process.container_id,
                pod_uid=process.pod_uid,
                mapped=summary.pages * page_size,
                categories={
                    (c.name or "").lower(): summary.categories.get(c, 0) * page_size
                    for c in Category
                    if c & mask
                },
            )
        )
    return rows, not_shown


def container_rows(processes: Iterable[Row], containers: Iterable[ContainerInfo]) -> list[Row]:
    """The rows of ``processes`` added up by container (those in none are left out), with each
    container's pod and runtime from ``containers`` (the node's ``GET /containers``)."""
    known = {c.container_id: c for c in containers}
    rows: dict[str, Row] = {}
    for process in processes:
        if not process.container_id:
            continue
        info = known.get(process.container_id)
        row = rows.get(process.container_id)
        if row is None:
            row = rows[process.container_id] = Row(
                name=process.container_id,
                mapped=0,
                processes=0,
                container_id=process.container_id,
                pod_uid=info.pod_uid if info is not None else process.pod_uid,
                runtime=info.runtime if info is not None else None,
            )
        row.processes = (row.processes or 0) + 1
        row.mapped += process.mapped
        for name, size in process.categories.items():
            row.categories[name] = row.categories.get(name, 0) + size
    return list(rows.values())


def _not_shown(pid: int, name: str, error: PmscanError) -> NotShown:
    return NotShown(pid=pid, name=name, error=type(error).__name__, code=error.code)


def not_shown_note(not_shown: Sequence[NotShown], *, pids: int = 5) -> str:
    """``3 not shown: 2 access denied (EACCES: pid 1, 523), 1 exited (EXITED: pid 4242)``:
    how many, why, and (the first ``pids`` of) which; empty when every process is shown."""
    if not not_shown:
        return ""
    groups: dict[tuple[str, str | None], list[int]] = {}
    for entry in not_shown:
        groups.setdefault((entry.reason, entry.code), []).append(entry.pid)
    parts = []
    for (reason, code), members in groups.items():
        listed = ", ".join(str(pid) for pid in members[:pids]) + (", …" if len(members) > pids else "")
        parts.append(f"{len(members)} {reason} ({f'{code}: ' if code else ''}pid {listed})")
    return f"{len(not_shown)} not shown: " + ", ".join(parts)


def _kib(n: int) -> str:
    return str(n // 1024)


def top_table(
    rows: list[Row],
    *,
    groups: bool,
    by: str,
    columns: Iterable[str],
    title: str | None,
    plain: bool,
    caption: str | None = None,
    containers: bool = False,
) -> Table:
    """The rows (of groups, of processes or of ``containers``) as a table, sizes in KiB, the
    sorted column marked; ``plain``: no borders or colours. ``caption``: a line under the table."""
    table = Table(
        title=title,
        caption=caption or None,
        box=None if plain else box.SIMPLE_HEAD,
        title_justify="left",
        caption_justify="left",
    )
    if groups:
        table.add_column("GROUP")
        table.add_column("PROCS", justify="right")
    elif containers:
        table.add_column("CONTAINER")
        table.add_column("POD UID")
        table.add_column("PROCS", justify="right")
    else:
        table.add_column("PID", justify="right")
        table.add_column("COMM")
    names = ["mapped", *columns]
    for name in names:
        header = kib_header(name.upper())
        header = (header + " *") if plain and name == by else header if plain else stacked(header)
        header += " ▼" if name == by and not plain else ""
        table.add_column(header, justify="right", style=None if plain or name != by else "bold")
    for row in rows:
        if groups:
            first = [row.name, str(row.processes)]
        elif containers:
            first = [short_id(row.container_id), row.pod_uid or "-", str(row.processes)]
        else:
            first = [str(row.pid), row.name]
        cells = [_kib(row.mapped), *(_kib(row.categories.get(c, 0)) for c in columns)]
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
    containers: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    keys: TextIO | None = None,
) -> int:
    """Print the top ``limit`` rows (processes; the node's ``groups``; or its ``containers``,
    their processes added up) by ``by`` once, or every ``interval`` seconds (``count``
    times, or until interrupted; on a terminal, until ``q`` is pressed on ``keys``, stdin by
    default). Returns the exit code."""
    columns = list(SHOWN) if by in ("mapped", *SHOWN) else [*SHOWN, by]
    page_size = client.capabilities().page_size

    def rows() -> tuple[list[Row], list[NotShown]]:
        not_shown: list[NotShown] = []
        if groups:
            found, not_shown = group_rows(client.metrics()), []
        else:
            found, not_shown = process_rows(client, columns, page_size)
            if containers:
                found = container_rows(found, client.containers())
        found.sort(key=lambda row: (-row.key(by), row.name))
        return (found[:limit] if limit else found), not_shown

    console = Console(file=out, highlight=False)
    plain = not console.is_terminal
    if plain:  # no terminal to fit: long names are not folded
        console = Console(file=out, highlight=False, width=200)
    what = "groups" if groups else "containers" if containers else "processes"

    def title(found: list[Row]) -> str:
        note = "" if found or not groups else " (the node exports none: PMSCAN_EXPORT_GROUPS)"
        return f"pmscan top: {what} by {by}{note}  {time.strftime('%H:%M:%S')}"

    def drawn(found: list[Row], not_shown: list[NotShown]) -> Table:
        # Off a terminal the title and the note are lines of their own: a table's would be folded.
        return top_table(
            found,
            groups=groups,
            by=by,
            columns=columns,
            title=None if plain else title(found),
            plain=plain,
            caption=None if plain else not_shown_note(not_shown),
            containers=containers,
        )

    def show(found: list[Row], not_shown: list[NotShown]) -> None:
        if as_json:
            document: dict[str, Any] = {"by": by, what: [_json_row(r) for r in found]}
            if not groups:
                document["not_shown"] = [asdict(entry) for entry in not_shown]
            out.write(json.dumps(document) + "\n")
            out.flush()
            return
        if plain:
            out.write(title(found) + "\n")
        console.print(drawn(found, not_shown))
        if plain and not_shown:
            out.write(not_shown_note(not_shown) + "\n")

    ticks = 1 if interval is None else count
    if interval is None or plain or as_json:  # once, or one table (document) after another
        tick = 0
        while True:
            show(*rows())
            tick += 1
            if ticks is not None and tick >= ticks:
                return 0
            assert interval is not None
            sleep(interval)
    with (
        Live(drawn(*rows()), console=console, auto_refresh=False) as live,
        Keys(keys or sys.stdin) as pressed,
    ):
        tick = 1
        while ticks is None or tick < ticks:
            if pressed.wait(interval) in QUIT:
                break
            live.update(drawn(*rows()), refresh=True)
            tick += 1
    return 0


def _json_row(row: Row) -> dict[str, Any]:
    document = {k: v for k, v in asdict(row).items() if v is not None}
    document["mapped_bytes"] = document.pop("mapped")
    document["categories_bytes"] = document.pop("categories")
    return document
