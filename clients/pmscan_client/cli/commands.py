"""What each subcommand does: one handler per command, ``handler(args, out, err) -> exit code``.

:mod:`.parser` binds each to its subcommand (``set_defaults(handler=…)``); a handler asks the
node through the SDK and hands the answer to a view (:mod:`.tables`, :mod:`.map_view`, …) or
a pipe format (:mod:`.formats`). Errors propagate: :func:`.main.main` turns them into a
message and an exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TextIO

from rich.console import Console
from rich.text import Text

from .. import (
    AsyncClient,
    Capabilities,
    Category,
    Client,
    ContainerInfo,
    ContainerNotFound,
    FleetClient,
    FleetResult,
    FleetSummary,
    FleetWorkloadSummary,
    PageRegion,
    PodNotFound,
    ProcessInfo,
    ScanFlag,
    ScanStream,
    Summary,
    WorkloadSummary,
    discover_nodes,
    distinct_nodes,
)
from .._categories import mask_value
from .console import NodeProgress, ScanProgress, console_for
from .exits import EXIT_NOT_FOUND, EXIT_PARTIAL, UsageError
from .formats import (
    binary_trailer,
    capabilities_text,
    fleet_json,
    maps_text,
    region_ndjson,
    region_text,
    summary_json,
    trailer_ndjson,
)
from .map_view import POPULATED, REPORTED, cells_of, document, paint, picture, picture_width, rows_of
from .messages import describe
from .options import client_of, connection_of, filters_of
from .tables import (
    containers_table,
    fleet_table,
    locate_table,
    processes_table,
    summary_table,
    workload_table,
)
from .top_view import run_top
from .watch_view import WatchView, show_watch

__all__ = [
    "FLEET_QUESTIONS",
    "WORKLOAD_QUESTIONS",
    "FleetQuestion",
    "Handler",
    "SizedFleetSummary",
    "SizedFleetWorkloadSummary",
    "Workload",
    "caps",
    "clear_soft_dirty",
    "containers",
    "dump",
    "fleet",
    "map_picture",
    "maps",
    "ps",
    "scan",
    "summary",
    "top",
    "watch",
]

#: A subcommand's handler: the parsed arguments, stdout and stderr in; the exit code out.
Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]


def _json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def dump(document: Any, out: TextIO) -> None:
    json.dump(document, out, indent=2)
    out.write("\n")


class Workload(NamedTuple):
    """A pod (``pod_uid``) or a container (``container_id``), as ``--pod`` or ``--container``
    name it: exactly one of the two is set."""

    pod_uid: str | None
    container_id: str | None

    def __str__(self) -> str:
        return f"pod {self.pod_uid}" if self.pod_uid is not None else f"container {self.container_id}"


def _workload(args: argparse.Namespace, *, pid: bool = True) -> Workload | None:
    """The workload ``--pod`` / ``--container`` name, or None for the PID; exactly one of them
    (a usage error otherwise)."""
    given = [
        value is not None
        for value in (
            (args.pid if pid else None),
            getattr(args, "pod", None),
            getattr(args, "container", None),
        )
    ]
    if sum(given) != 1:
        names = "PID, --pod UID and --container ID" if pid else "--pod UID and --container ID"
        raise UsageError(f"{args.command}: give exactly one of {names}")
    if given[0]:
        return None
    return Workload(args.pod, args.container)


def _workload_summary(
    client: Client, workload: Workload, fields: dict[str, Any], by_vma: bool
) -> WorkloadSummary:
    if workload.pod_uid is not None:
        return client.summary(pod_uid=workload.pod_uid, by_vma=by_vma, **fields)
    assert workload.container_id is not None
    return client.summary(container_id=workload.container_id, by_vma=by_vma, **fields)


# ---- one node ---------------------------------------------------------------------------------


def scan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    flags = (ScanFlag.WP_MATCHING if args.wp else 0) | (ScanFlag.CHECK_WPASYNC if args.check_wpasync else 0)
    form = args.format or ("json" if _json(args) else "ndjson")
    with client_of(args) as client:
        stream = client.scan(
            args.pid,
            **filters_of(args),
            flags=flags,
            vec_len=args.vec_len,
            regions_per_request=args.per_request,
        )
        with stream, ScanProgress(f"pmscan: scanning {args.pid}") as progress:
            if form == "binary":
                _scan_binary(stream, progress, out)
            elif form == "json":
                _scan_json(stream, progress, out, args.pid)
            else:
                page_size = client.capabilities().page_size if form == "text" else 0
                for count, region in enumerate(stream, 1):
                    out.write(region_text(region, page_size) if form == "text" else region_ndjson(region))
                    if not count % 8192:
                        progress.update(stream.regions, stream.pages, stream.position)
                if form == "ndjson":
                    out.write(trailer_ndjson(stream.walk_end, stream.regions, stream.pages))
    return 0


def _scan_binary(stream: ScanStream, progress: ScanProgress, out: TextIO) -> None:
    out.flush()
    binary = out.buffer
    for records in stream.iter_raw():
        binary.write(records)
        progress.update(stream.regions, stream.pages, stream.position)
    assert stream.walk_end is not None
    binary.write(binary_trailer(stream.walk_end, stream.regions))
    binary.flush()


def _scan_json(stream: ScanStream, progress: ScanProgress, out: TextIO, pid: int) -> None:
    """The server's ScanDocument without start and end (the binary stream does not carry them)."""
    out.write(f'{{"pid": {pid}, "regions": [')
    for count, region in enumerate(stream):
        out.write((",\n  " if count else "\n  ") + region_ndjson(region).rstrip("\n"))
        if not (count + 1) % 8192:
            progress.update(stream.regions, stream.pages, stream.position)
    out.write(f'\n], "walk_end": {stream.walk_end}, "pages": {stream.pages}}}\n')


def summary(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    workload = _workload(args)
    if workload is not None:
        return _summary_of_workload(args, workload, out)
    with client_of(args) as client:
        answer = client.summary(args.pid, by_vma=args.by_vma, **filters_of(args))
        if _json(args):
            dump(summary_json(answer), out)
            return 0
        console = console_for(out)
        console.print(summary_table(answer, client.capabilities().page_size, terminal=console.is_terminal))
    return 0


def _summary_of_workload(args: argparse.Namespace, workload: Workload, out: TextIO) -> int:
    """One row per process of the pod or the container, the totals, the processes skipped."""
    if args.by_vma and not _json(args):
        raise UsageError("summary: --by-vma with --pod or --container: only with --json")
    with client_of(args) as client:
        answer = _workload_summary(client, workload, filters_of(args), args.by_vma)
        if _json(args):
            dump(answer.to_dict(), out)
            return 0
        console = console_for(out)
        console.print(workload_table(answer, client.capabilities().page_size, terminal=console.is_terminal))
    return 0


def containers(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with client_of(args) as client:
        found = client.containers(pod_uid=args.pod, container_id=args.container, runtime=args.runtime)
    if _json(args):
        dump([c.to_dict() for c in found], out)
    else:
        console = console_for(out)
        console.print(containers_table(found, terminal=console.is_terminal))
    return 0


def ps(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with client_of(args) as client:
        processes = client.processes(comm=args.comm, uid=args.uid)
    if _json(args):
        dump([p.to_dict() for p in processes], out)
    else:
        console = console_for(out)
        console.print(processes_table(processes, terminal=console.is_terminal))
    return 0


def maps(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with client_of(args) as client:
        mappings = client.maps(args.pid)
    if _json(args):
        dump([m.to_dict() for m in mappings], out)
    else:
        out.write(maps_text(mappings))
    return 0


def caps(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with client_of(args) as client:
        capabilities = client.capabilities()
    if _json(args):
        dump(capabilities.to_dict(), out)
    else:
        out.write(capabilities_text(capabilities))
    return 0


def clear_soft_dirty(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with client_of(args) as client:
        client.clear_soft_dirty(args.pid)
    return 0


def watch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.interval <= 0 or args.count < 1:
        raise UsageError("--interval must be positive and --count at least 1")
    fields = filters_of(args)
    fields.pop("max_pages", None)
    if args.written:
        fields["flags"] = ScanFlag.WP_MATCHING
        fields["category_mask"] |= Category.WRITTEN
        fields["return_mask"] = Category.WRITTEN
    workload = _workload(args)
    with client_of(args) as client:
        view = WatchView(client.capabilities().page_size, written=args.written, workload=workload is not None)
        timing = {"interval_seconds": args.interval, "count": args.count}
        if workload is None:
            ticks = client.watch(args.pid, **timing, **fields)
        elif workload.pod_uid is not None:
            ticks = client.watch(pod_uid=workload.pod_uid, **timing, **fields)
        else:
            ticks = client.watch(container_id=workload.container_id, **timing, **fields)
        what = "pages written" if args.written else "page counts"
        title = f"pmscan watch {workload or args.pid}: {what} every {args.interval:g} s"
        show_watch(ticks, view, out, as_json=_json(args), title=title)
    return 0


def map_picture(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with client_of(args) as client:
        capabilities = client.capabilities()
        page_size, limit = capabilities.page_size, capabilities.user_address_limit
        known = mask_value(Category, [category.name or "" for category in capabilities.categories])
        rows = rows_of(client.maps(args.pid), page_size=page_size, limit=limit)
        console = console_for(out, width=args.width)
        width = args.width or (console.width if console.is_terminal else 80)
        cells = cells_of(rows, width)
        if rows:
            regions = client.scan(
                args.pid,
                start=rows[0].start,
                end=rows[-1].end,
                category_anyof_mask=POPULATED & known,
                return_mask=REPORTED & known,
            )
            with regions, ScanProgress(f"pmscan: mapping {args.pid}") as progress:
                paint(rows, _progressing(regions, progress), cells=cells, page_size=page_size)
    if _json(args):
        dump(document(rows, pid=args.pid, page_size=page_size), out)
    else:
        drawing = picture(rows, pid=args.pid, page_size=page_size, width=width, colour=console.is_terminal)
        console.print(drawing, width=width)
    if args.svg is not None:
        # The same bars, and the names whole: an SVG has no terminal to fit.
        wide = picture_width(rows, width, whole_names=True)
        recorder = console_for(io.StringIO(), width=wide, terminal=True)
        recorder.record = True
        coloured = picture(
            rows, pid=args.pid, page_size=page_size, width=width, colour=True, whole_names=True
        )
        recorder.print(coloured, width=wide)
        recorder.save_svg(str(args.svg), title=f"pmscan map {args.pid}")
    return 0


def _progressing(stream: ScanStream, progress: ScanProgress) -> Iterator[PageRegion]:
    for count, region in enumerate(stream, 1):
        yield region
        if not count % 8192:
            progress.update(stream.regions, stream.pages, stream.position)


def top(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.interval is not None and args.interval <= 0:
        raise UsageError("--interval: a positive number of seconds")
    if args.limit < 0 or (args.count is not None and args.count < 1):
        raise UsageError("--limit must be >= 0 and --count >= 1")
    if args.groups and args.containers:
        raise UsageError("top: --groups or --containers, not both")
    with client_of(args) as client:
        return run_top(
            client,
            out,
            groups=args.groups,
            containers=args.containers,
            by=args.sort,
            limit=args.limit,
            interval=args.interval,
            count=args.count,
            as_json=_json(args),
        )


# ---- many nodes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SizedFleetSummary(FleetSummary):
    """Summaries per node, with each node's page size (nodes may differ)."""

    page_sizes: dict[str, int] = field(default_factory=dict)


async def _ask_summaries(fleet: FleetClient, args: argparse.Namespace, words: list[str]) -> SizedFleetSummary:
    pid, fields = int(words[0]), filters_of(args)

    async def ask(client: AsyncClient) -> tuple[Summary, int]:
        page_size = (await client.capabilities()).page_size
        return await client.summary(pid, **fields), page_size

    sized = await fleet.gather(ask)
    return SizedFleetSummary(
        {node: summary for node, (summary, _) in sized.results.items()},
        sized.errors,
        {node: page_size for node, (_, page_size) in sized.results.items()},
    )


@dataclass(frozen=True)
class SizedFleetWorkloadSummary(FleetWorkloadSummary):
    """The summary of a workload from the node(s) that run it, with their page sizes."""

    page_sizes: dict[str, int] = field(default_factory=dict)


async def _ask_workload_summary(
    fleet: FleetClient, args: argparse.Namespace, words: list[str]
) -> SizedFleetWorkloadSummary:
    workload, fields = _workload(args, pid=False), filters_of(args)
    assert workload is not None

    async def here(client: AsyncClient) -> tuple[WorkloadSummary, int] | None:
        try:
            if workload.pod_uid is not None:
                answer = await client.summary(pod_uid=workload.pod_uid, **fields)
            else:
                assert workload.container_id is not None
                answer = await client.summary(container_id=workload.container_id, **fields)
        except (ContainerNotFound, PodNotFound):
            return None  # not on this node
        return answer, (await client.capabilities()).page_size

    found = await fleet.gather(here)
    sized = {node: answer for node, answer in found.results.items() if answer is not None}
    return SizedFleetWorkloadSummary(
        {node: summary for node, (summary, _) in sized.items()},
        found.errors,
        {node: page_size for node, (_, page_size) in sized.items()},
    )


def _show_workload_summary(result: FleetResult[Any], console: Console, out: TextIO) -> None:
    """Each node that runs it (one, unless a short container id names containers of several):
    ``node URL``, then its summary as ``pmscan summary --pod`` prints it."""
    assert isinstance(result, SizedFleetWorkloadSummary)
    for node, answer in result.results.items():
        console.print(Text(f"node {node}", style="bold" if console.is_terminal else ""))
        console.print(workload_table(answer, result.page_sizes[node], terminal=console.is_terminal))


async def _locate(fleet: FleetClient, args: argparse.Namespace, words: list[str]) -> FleetResult[Any]:
    workload = _workload(args, pid=False)
    assert workload is not None
    return await fleet.locate(pod_uid=workload.pod_uid, container_id=workload.container_id)


def _show_located(result: FleetResult[Any], console: Console, out: TextIO) -> None:
    located: dict[str, list[ContainerInfo]] = result.results
    if located:
        console.print(locate_table(located, terminal=console.is_terminal))


def _show_summaries(result: FleetResult[Any], console: Console, out: TextIO) -> None:
    assert isinstance(result, SizedFleetSummary)
    console.print(fleet_table(result, result.page_sizes, terminal=console.is_terminal))


def _show_each(
    draw: Callable[[Any, Console, TextIO], None],
) -> Callable[[FleetResult[Any], Console, TextIO], None]:
    """Each node's answer under a ``== URL`` line, drawn by ``draw``."""

    def show(result: FleetResult[Any], console: Console, out: TextIO) -> None:
        for node, answer in result.results.items():
            console.print(Text(f"== {node}", style="bold" if console.is_terminal else ""))
            draw(answer, console, out)

    return show


def _capabilities(answer: Capabilities, console: Console, out: TextIO) -> None:
    out.write(capabilities_text(answer))


def _processes(answer: list[ProcessInfo], console: Console, out: TextIO) -> None:
    console.print(processes_table(answer, terminal=console.is_terminal))


class FleetQuestion(NamedTuple):
    """A question of ``pmscan fleet``: how many words (a PID) follow its name, how to ask the
    fleet, and how to show the answers to people (``--json`` prints :func:`.formats.fleet_json`)."""

    words: int
    ask: Callable[[FleetClient, argparse.Namespace, list[str]], Awaitable[FleetResult[Any]]]
    show: Callable[[FleetResult[Any], Console, TextIO], None]


#: What ``pmscan fleet … QUESTION`` asks each node, by the question's name.
FLEET_QUESTIONS: dict[str, FleetQuestion] = {
    "summary": FleetQuestion(1, _ask_summaries, _show_summaries),
    "caps": FleetQuestion(0, lambda fleet, args, words: fleet.capabilities(), _show_each(_capabilities)),
    "ps": FleetQuestion(
        0, lambda fleet, args, words: fleet.processes(comm=args.comm, uid=args.uid), _show_each(_processes)
    ),
    "locate": FleetQuestion(0, _locate, _show_located),
}
#: The questions about a workload (``--pod UID`` or ``--container ID``), in place of
#: :data:`FLEET_QUESTIONS`' of the same name: answered by the node(s) that run it.
WORKLOAD_QUESTIONS: dict[str, FleetQuestion] = {
    "summary": FleetQuestion(0, _ask_workload_summary, _show_workload_summary),
    "locate": FleetQuestion(0, _locate, _show_located),
}


def fleet(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    words = args.words
    where = next((i for i, word in enumerate(words) if word in FLEET_QUESTIONS), None)
    if where is None:
        raise UsageError(f"fleet: expected one of {', '.join(FLEET_QUESTIONS)} after the nodes")
    nodes, name, rest = words[:where], words[where], words[where + 1 :]
    workload = args.pod is not None or args.container is not None
    if args.pod is not None and args.container is not None:
        raise UsageError(f"fleet {name}: give one of --pod UID and --container ID")
    if workload and name not in WORKLOAD_QUESTIONS:
        raise UsageError(f"fleet {name}: --pod and --container are for {' and '.join(WORKLOAD_QUESTIONS)}")
    if name == "locate" and not workload:
        raise UsageError("fleet locate: give --pod UID or --container ID")
    if workload and name == "summary" and rest:
        raise UsageError("fleet summary: give exactly one of PID, --pod UID and --container ID")
    question = WORKLOAD_QUESTIONS[name] if workload else FLEET_QUESTIONS[name]
    if len(rest) != question.words or not all(word.isdigit() for word in rest):
        raise UsageError(
            f"fleet {name}: " + ("expected one PID" if question.words else f"unexpected {rest!r}")
        )
    if not nodes and not args.service:
        raise UsageError("fleet: give node URLs, or --service NAME")
    connection = connection_of(args)
    progress = NodeProgress(err, f"pmscan fleet {name}: nodes answered")

    async def ask() -> FleetResult[Any]:
        given = list(nodes)
        if args.service:
            given += await discover_nodes(args.service, port=args.port, scheme=args.scheme)
        found = await distinct_nodes(given)
        for node in dict.fromkeys(given):
            if node not in found:
                err.write(
                    f"pmscan: fleet: {node} is a node named before it (same address and port): asked once\n"
                )
        progress.expect(len(found))
        async with FleetClient(
            found,
            on_answer=progress.answered,
            concurrency=args.concurrency,
            node_timeout=args.node_timeout,
            token=connection.token,
            verify=connection.verify,
            cert=connection.cert,
            server_name=connection.server_name,
        ) as client:
            return await question.ask(client, args, rest)

    with progress:
        result = asyncio.run(ask())
    if _json(args):
        dump(fleet_json(result), out)
    else:
        question.show(result, console_for(out), out)
    for node, error in result.errors.items():
        # A transport error names its node already.
        err.write(
            f"pmscan: {describe(error, args)}\n"
            if node in str(error)
            else f"pmscan: {node}: {describe(error, args)}\n"
        )
    if workload and not result.results:
        workload_name = str(Workload(args.pod, args.container))
        answered = " that answered" if result.errors else ""
        err.write(f"pmscan: fleet {name}: no node{answered} runs {workload_name}\n")
        return EXIT_PARTIAL if result.errors else EXIT_NOT_FOUND
    return EXIT_PARTIAL if result.errors else 0
