"""``pmscan``: the page states of processes on pmscan nodes, from the shell.

The node comes from ``--url`` / ``--uds`` or ``PMSCAN_URL`` / ``PMSCAN_UDS``
(default ``http://127.0.0.1:6716``), the token from ``--token-file`` / ``--token`` or
``PMSCAN_TOKEN``. argparse is enough for these few commands: no dependency.

Exit codes:
  0  success
  1  any other error: the server failed (5xx), a stream was cut short, …
  2  usage: bad arguments, or the server rejected the request (422, 406, 413, 415)
  3  no such process (404), or it exited (410)
  4  unauthenticated (401) or access denied (403)
  5  the kernel lacks a feature (501), or CHECK_WPASYNC failed (409)
  6  the node stayed busy (429, 503) through the retries
  7  the node could not be reached, or did not answer in time
  8  fleet: some nodes failed (their errors on stderr; the others' answers printed)
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn, TextIO

from rich.text import Text

from ._categories import Category, ScanFlag, mask_value
from ._client import Client
from ._connection import Connection
from ._console import NodeProgress, ScanProgress, console_for
from ._errors import (
    AccessDenied,
    Busy,
    InvalidRequest,
    NotAcceptable,
    NotWPAsync,
    PayloadTooLarge,
    PmscanError,
    ProcessGone,
    ProcessNotFound,
    TransportError,
    Unauthenticated,
    Unsupported,
    UnsupportedMediaType,
)
from ._fleet import FleetClient, FleetResult, FleetSummary, discover_nodes
from ._map import POPULATED, REPORTED, document, layout, paint, picture, rows_of
from ._models import PageRegion
from ._render import (
    binary_trailer,
    capabilities_text,
    error_json,
    fleet_json,
    fleet_table,
    maps_text,
    processes_table,
    region_ndjson,
    region_text,
    summary_json,
    summary_table,
    trailer_ndjson,
)
from ._scan import ScanStream
from ._top import SORT_KEYS, run_top
from ._watch_view import WatchView, show_watch

__all__ = ["EXIT_CODES", "main", "run"]

EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL = 1, 2, 8
#: Exception → exit code (looked up along the exception's MRO; anything else is 1).
EXIT_CODES: dict[type[Exception], int] = {
    InvalidRequest: 2,
    NotAcceptable: 2,
    PayloadTooLarge: 2,
    UnsupportedMediaType: 2,
    ProcessNotFound: 3,
    ProcessGone: 3,
    Unauthenticated: 4,
    AccessDenied: 4,
    Unsupported: 5,
    NotWPAsync: 5,
    Busy: 6,
    TransportError: 7,
}
FLEET_COMMANDS = ("summary", "caps", "ps")


class _UsageError(Exception):
    """A bad argument found after parsing."""


def exit_code(error: BaseException) -> int:
    for kind in type(error).__mro__:
        if kind in EXIT_CODES:
            return EXIT_CODES[kind]
    return EXIT_ERROR


# ---- arguments -------------------------------------------------------------------------------


def _connection_options() -> argparse.ArgumentParser:
    # SUPPRESS: the options may come before or after the command without overwriting each other.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    group = common.add_argument_group("connection")
    group.add_argument(
        "--url", help="the node, http(s)://HOST:PORT (env PMSCAN_URL; default http://127.0.0.1:6716)"
    )
    group.add_argument("--uds", metavar="PATH", help="the node's Unix socket instead (env PMSCAN_UDS)")
    group.add_argument("--token", help="bearer token (env PMSCAN_TOKEN; prefer --token-file)")
    group.add_argument("--token-file", metavar="PATH", type=Path, help="read the bearer token from PATH")
    group.add_argument("--cacert", metavar="PATH", help="CA bundle to verify the server's certificate")
    group.add_argument("--insecure", action="store_true", help="do not verify the server's certificate")
    group.add_argument("--cert", metavar="PATH", help="client certificate (PEM; may include the key)")
    group.add_argument("--key", metavar="PATH", help="the client certificate's key")
    group.add_argument("--server-name", metavar="NAME", help="verify the certificate for NAME (nodes by IP)")
    group.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="connect and read timeout (default 30)"
    )
    group.add_argument("--json", action="store_true", help="print JSON, for scripts")
    return common


def _filter_options(*, without: tuple[Category, ...] = ()) -> argparse.ArgumentParser:
    filters = argparse.ArgumentParser(add_help=False)
    group = filters.add_argument_group(
        "page filters", "pages that have every category given (--present --written …) are reported"
    )
    for category in Category:
        assert category.name
        if category in without:
            continue
        group.add_argument(
            f"--{category.name.lower().replace('_', '-')}",
            dest="categories",
            action="append_const",
            const=category.name,
            help=f"pages that are {category.name}",
        )
    group.add_argument("--not", dest="inverted", metavar="CATS", help="pages without these (comma-separated)")
    group.add_argument("--any", metavar="CATS", help="pages with at least one of these")
    group.add_argument("--range", metavar="A-B", help="the address range [A, B) (hex or decimal; A- or -B)")
    group.add_argument(
        "--return", dest="return_mask", metavar="CATS", help="categories to report (default all)"
    )
    group.add_argument("--max-pages", type=int, default=0, metavar="N", help="stop after N matching pages")
    group.add_argument("--backend", choices=("auto", "ioctl", "pagemap"), default="auto")
    return filters


def build_parser() -> argparse.ArgumentParser:
    common, filters = _connection_options(), _filter_options()
    parser = argparse.ArgumentParser(
        prog="pmscan",
        parents=[common],
        description="Page states of processes on pmscan nodes (ioctl PAGEMAP_SCAN over HTTP).",
        epilog=__doc__[__doc__.index("Exit codes:") :],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    scan = commands.add_parser("scan", parents=[common, filters], help="the page regions of a process")
    scan.add_argument("pid", type=int)
    scan.add_argument(
        "--format",
        choices=("ndjson", "json", "binary", "text"),
        default=None,
        help="output format (default ndjson)",
    )
    scan.add_argument("--wp", action="store_true", help="write-protect the reported pages (WP_MATCHING)")
    scan.add_argument("--check-wpasync", action="store_true", help="fail on pages without async WP")
    scan.add_argument("--vec-len", type=int, metavar="N", help="at most N regions in all")
    scan.add_argument(
        "--per-request", type=int, metavar="N", help="page through the answer, N regions a request"
    )

    summary = commands.add_parser("summary", parents=[common, filters], help="page counts per category")
    summary.add_argument("pid", type=int)
    summary.add_argument("--by-vma", action="store_true", help="one row per mapping, like pmap -X")

    ps = commands.add_parser("ps", parents=[common], help="the processes of the node")
    ps.add_argument("--comm", help="exact command name")
    ps.add_argument("--uid", type=int, help="real user id")

    maps = commands.add_parser("maps", parents=[common], help="the mappings of a process")
    maps.add_argument("pid", type=int)

    commands.add_parser("caps", parents=[common], help="what the node's kernel and service can do")

    top = commands.add_parser(
        "top", parents=[common], help="the node's processes (or groups) sorted by a page category"
    )
    top.add_argument("--sort", choices=SORT_KEYS, default="present", help="sort by (default present)")
    top.add_argument(
        "--groups", action="store_true", help="the groups the node exports (PMSCAN_EXPORT_GROUPS)"
    )
    top.add_argument("-n", "--limit", type=int, default=20, help="rows shown (default 20; 0: all)")
    top.add_argument("-i", "--interval", type=float, metavar="SECONDS", help="refresh every SECONDS")
    top.add_argument("--count", type=int, metavar="N", help="with --interval: stop after N refreshes")
    watch = commands.add_parser(
        "watch",
        parents=[common, _filter_options(without=(Category.WRITTEN,))],
        help="page counts of a process, tick after tick, and their rates",
        description="Page counts every --interval seconds, --count times, and their rate of change. "
        "--written: the pages written since the previous tick (WP_MATCHING over a userfaultfd-WP "
        "range, --range A-B) and the dirty rate.",
    )
    watch.add_argument("pid", type=int)
    watch.add_argument("--interval", type=float, default=1.0, metavar="SECONDS", help="default 1")
    watch.add_argument("--count", type=int, default=60, metavar="N", help="ticks (default 60)")
    watch.add_argument(
        "--written",
        action="store_true",
        help="count the pages written since the previous tick and write-protect them again "
        "(WP_MATCHING; needs the write scope)",
    )

    picture = commands.add_parser(
        "map",
        parents=[common],
        help="a picture of a process's address space",
        description="One row per mapping, a bar of cells coloured by the state most of each "
        "cell's pages are in: present anon, present file, huge, swapped, zero page, guard, not populated.",
    )
    picture.add_argument("pid", type=int)
    picture.add_argument("--svg", metavar="FILE", type=Path, help="also write the picture as SVG to FILE")
    picture.add_argument(
        "--width", type=int, metavar="COLUMNS", help="columns (default: the terminal's, else 80)"
    )

    clear = commands.add_parser(
        "clear-soft-dirty", parents=[common], help="reset a process's soft-dirty bits"
    )
    clear.add_argument("pid", type=int)

    fleet = commands.add_parser(
        "fleet",
        parents=[common, filters],
        help="ask many nodes at once",
        usage="pmscan fleet [URL ...] [--service NAME] {summary PID | caps | ps} [options]",
        description="The same question to every node: summary PID, caps, or ps.",
    )
    fleet.add_argument("words", nargs="+", metavar="URL ... COMMAND [PID]")
    fleet.add_argument(
        "--service", metavar="NAME", help="nodes: every address of this DNS name (headless Service)"
    )
    fleet.add_argument("--port", type=int, default=6716, help="port of discovered nodes (default 6716)")
    fleet.add_argument("--scheme", choices=("http", "https"), default="https", help="of discovered nodes")
    fleet.add_argument("--concurrency", type=int, default=32, help="requests in flight at once (default 32)")
    fleet.add_argument(
        "--node-timeout", type=float, default=30.0, metavar="SECONDS", help="per node (default 30)"
    )
    fleet.add_argument("--comm", help="ps: exact command name")
    fleet.add_argument("--uid", type=int, help="ps: real user id")
    return parser


def _connection(args: argparse.Namespace) -> Connection:
    token = getattr(args, "token", None)
    if getattr(args, "token_file", None) is not None:
        token = args.token_file.read_text().strip()
    verify: bool | str | None = getattr(args, "cacert", None)
    if getattr(args, "insecure", False):
        verify = False
    cert = getattr(args, "cert", None)
    if cert and getattr(args, "key", None):
        cert = (cert, args.key)
    return Connection.from_env(
        url=getattr(args, "url", None),
        uds=getattr(args, "uds", None),
        token=token,
        verify=verify,
        cert=cert,
        server_name=getattr(args, "server_name", None),
        timeout=getattr(args, "timeout", None),
    )


def _range(text: str | None) -> dict[str, int]:
    if not text:
        return {}
    low, sep, high = text.partition("-")
    if not sep:
        raise _UsageError(f"--range {text!r}: expected A-B, A- or -B")
    try:
        bounds = {name: int(value, 0) for name, value in (("start", low), ("end", high)) if value}
    except ValueError:
        raise _UsageError(f"--range {text!r}: addresses are hex (0x…) or decimal") from None
    return bounds


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    """The scan/summary keyword arguments of the page filter options."""
    try:
        inverted = mask_value(Category, args.inverted or ())
        fields: dict[str, Any] = {
            "category_mask": mask_value(Category, args.categories or ()) | inverted,
            "category_inverted": inverted,
            "category_anyof_mask": mask_value(Category, args.any or ()),
            "return_mask": None if args.return_mask is None else mask_value(Category, args.return_mask),
            "max_pages": args.max_pages,
            "backend": args.backend,
        }
    except ValueError as err:
        raise _UsageError(str(err)) from None
    return fields | _range(args.range)


# ---- commands --------------------------------------------------------------------------------


def _scan(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    flags = (ScanFlag.WP_MATCHING if args.wp else 0) | (ScanFlag.CHECK_WPASYNC if args.check_wpasync else 0)
    stream = client.scan(
        args.pid, **_filters(args), flags=flags, vec_len=args.vec_len, regions_per_request=args.per_request
    )
    form = args.format or ("json" if getattr(args, "json", False) else "ndjson")
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


def _single(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    as_json = getattr(args, "json", False)
    console = console_for(out)
    terminal = console.is_terminal
    if args.command == "summary":
        summary = client.summary(args.pid, by_vma=args.by_vma, **_filters(args))
        if as_json:
            _dump(summary_json(summary), out)
        else:
            console.print(summary_table(summary, client.capabilities().page_size, terminal=terminal))
    elif args.command == "ps":
        processes = client.processes(comm=args.comm, uid=args.uid)
        if as_json:
            _dump([p.to_dict() for p in processes], out)
        else:
            console.print(processes_table(processes, terminal=terminal))
    elif args.command == "maps":
        mappings = client.maps(args.pid)
        _dump([m.to_dict() for m in mappings], out) if as_json else out.write(maps_text(mappings))
    elif args.command == "caps":
        capabilities = client.capabilities()
        _dump(capabilities.to_dict(), out) if as_json else out.write(capabilities_text(capabilities))
    elif args.command == "clear-soft-dirty":
        client.clear_soft_dirty(args.pid)
    return 0


def _watch(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    if args.interval <= 0 or args.count < 1:
        raise _UsageError("--interval must be positive and --count at least 1")
    fields = _filters(args)
    fields.pop("max_pages", None)
    if args.written:
        fields["flags"] = ScanFlag.WP_MATCHING
        fields["category_mask"] |= Category.WRITTEN
        fields["return_mask"] = Category.WRITTEN
    page_size = client.capabilities().page_size
    view = WatchView(page_size, written=args.written)
    ticks = client.watch(args.pid, interval_seconds=args.interval, count=args.count, **fields)
    what = "pages written" if args.written else "page counts"
    title = f"pmscan watch {args.pid}: {what} every {args.interval:g} s"
    show_watch(ticks, view, out, as_json=getattr(args, "json", False), title=title)
    return 0


def _map(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    capabilities = client.capabilities()
    page_size, limit = capabilities.page_size, capabilities.user_address_limit
    known = mask_value(Category, [category.name or "" for category in capabilities.categories])
    rows = rows_of(client.maps(args.pid), page_size=page_size, limit=limit)
    console = console_for(out, width=args.width)
    width = args.width or (console.width if console.is_terminal else 80)
    cells, _ = layout(width)
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
    if getattr(args, "json", False):
        _dump(document(rows, pid=args.pid, page_size=page_size), out)
    else:
        drawing = picture(rows, pid=args.pid, page_size=page_size, width=width, colour=console.is_terminal)
        console.print(drawing, width=width)
    if args.svg is not None:
        recorder = console_for(io.StringIO(), width=width, terminal=True)
        recorder.record = True
        coloured = picture(rows, pid=args.pid, page_size=page_size, width=width, colour=True)
        recorder.print(coloured, width=width)
        recorder.save_svg(str(args.svg), title=f"pmscan map {args.pid}")
    return 0


def _progressing(stream: ScanStream, progress: ScanProgress) -> Iterator[PageRegion]:
    for count, region in enumerate(stream, 1):
        yield region
        if not count % 8192:
            progress.update(stream.regions, stream.pages, stream.position)


def _fleet(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    words = args.words
    where = next((i for i, word in enumerate(words) if word in FLEET_COMMANDS), None)
    if where is None:
        raise _UsageError(f"fleet: expected one of {', '.join(FLEET_COMMANDS)} after the nodes")
    nodes, command, rest = words[:where], words[where], words[where + 1 :]
    if command == "summary":
        if len(rest) != 1 or not rest[0].isdigit():
            raise _UsageError("fleet summary: expected one PID")
    elif rest:
        raise _UsageError(f"fleet {command}: unexpected {' '.join(rest)!r}")
    if not nodes and not args.service:
        raise _UsageError("fleet: give node URLs, or --service NAME")
    connection = _connection(args)

    progress = NodeProgress(err, f"pmscan fleet {command}: nodes answered")

    async def ask() -> FleetResult[Any]:
        found = list(nodes)
        if args.service:
            found += await discover_nodes(args.service, port=args.port, scheme=args.scheme)
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
        ) as fleet:
            if command == "summary":
                return await fleet.summary(int(rest[0]), **_filters(args))
            if command == "caps":
                return await fleet.capabilities()
            return await fleet.processes(comm=args.comm, uid=args.uid)

    with progress:
        result = asyncio.run(ask())
    console = console_for(out)
    terminal = console.is_terminal
    if getattr(args, "json", False):
        _dump(fleet_json(result), out)
    elif isinstance(result, FleetSummary):
        console.print(fleet_table(result, terminal=terminal))
    else:
        for node, answer in result.results.items():
            console.print(Text(f"== {node}", style="bold" if terminal else ""))
            if command == "caps":
                out.write(capabilities_text(answer))
            else:
                console.print(processes_table(answer, terminal=terminal))
    for node, error in result.errors.items():
        err.write(f"pmscan: {node}: {_describe(error)}\n")
    return EXIT_PARTIAL if result.errors else 0


def _top(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    if args.interval is not None and args.interval <= 0:
        raise _UsageError("--interval: a positive number of seconds")
    if args.limit < 0 or (args.count is not None and args.count < 1):
        raise _UsageError("--limit must be >= 0 and --count >= 1")
    return run_top(
        client,
        out,
        groups=args.groups,
        by=args.sort,
        limit=args.limit,
        interval=args.interval,
        count=args.count,
        as_json=getattr(args, "json", False),
    )


def _dump(document: Any, out: TextIO) -> None:
    json.dump(document, out, indent=2)
    out.write("\n")


def _describe(error: BaseException) -> str:
    status = getattr(error, "status", None)
    code = getattr(error, "code", None)
    extra = " ".join(str(part) for part in (f"HTTP {status}" if status else None, code) if part)
    return f"{type(error).__name__}: {error}" + (f" ({extra})" if extra else "")


# ---- entry points ----------------------------------------------------------------------------


def main(argv: list[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run ``pmscan`` with ``argv``; return the exit code (argparse exits 2 itself on bad usage)."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        if args.command == "fleet":
            return _fleet(args, out, err)
        with Client(connection=_connection(args)) as client:
            if args.command == "scan":
                return _scan(client, args, out)
            if args.command == "top":
                return _top(client, args, out)
            if args.command == "watch":
                return _watch(client, args, out)
            if args.command == "map":
                return _map(client, args, out)
            return _single(client, args, out)
    except _UsageError as usage:
        err.write(f"pmscan: error: {usage}\n")
        return EXIT_USAGE
    except PmscanError as error:
        if getattr(args, "json", False):
            _dump({"error": error_json(error)}, err)
        else:
            err.write(f"pmscan: {_describe(error)}\n")
        return exit_code(error)
    except OSError as error:  # --token-file, --cacert, --cert
        err.write(f"pmscan: {error}\n")
        return EXIT_USAGE


def run() -> NoReturn:
    """The console script: dies quietly of SIGPIPE (``pmscan scan 1 | head``), 130 on Ctrl-C."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
