"""The arguments of ``pmscan``: one subparser per command, each bound to its handler in
:mod:`.commands` with ``set_defaults(handler=…)`` — the one table of what runs for which command."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import Category
from . import commands
from .exits import HELP
from .options import connection_options, filter_options
from .top_view import SORT_KEYS

__all__ = ["build_parser"]


def build_parser() -> argparse.ArgumentParser:
    common, filters = connection_options(), filter_options()
    parser = argparse.ArgumentParser(
        prog="pmscan",
        parents=[common],
        description="Page states of processes on pmscan nodes (ioctl PAGEMAP_SCAN over HTTP).",
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    scan = subcommands.add_parser("scan", parents=[common, filters], help="the page regions of a process")
    scan.set_defaults(handler=commands.scan)
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

    summary = subcommands.add_parser(
        "summary",
        parents=[common, filters],
        help="page counts per category (of a process, a pod or a container)",
        usage="pmscan summary {PID | --pod UID | --container ID} [options]",
    )
    summary.set_defaults(handler=commands.summary)
    summary.add_argument("pid", type=int, nargs="?")
    _workload_options(summary)
    summary.add_argument("--by-vma", action="store_true", help="one row per mapping, like pmap -X")

    containers = subcommands.add_parser(
        "containers", parents=[common], help="the containers that have processes on the node"
    )
    containers.set_defaults(handler=commands.containers)
    containers.add_argument("--pod", metavar="UID", help="those of this pod")
    containers.add_argument("--container", metavar="ID", help="this one (its id, or 12 digits or more)")
    containers.add_argument("--runtime", metavar="R", help="containerd, cri-o, docker or podman")

    ps = subcommands.add_parser("ps", parents=[common], help="the processes of the node")
    ps.set_defaults(handler=commands.ps)
    ps.add_argument("--comm", help="exact command name")
    ps.add_argument("--uid", type=int, help="real user id")

    maps = subcommands.add_parser("maps", parents=[common], help="the mappings of a process")
    maps.set_defaults(handler=commands.maps)
    maps.add_argument("pid", type=int)

    caps = subcommands.add_parser("caps", parents=[common], help="what the node's kernel and service can do")
    caps.set_defaults(handler=commands.caps)

    top = subcommands.add_parser(
        "top", parents=[common], help="the node's processes (or groups) sorted by a page category"
    )
    top.set_defaults(handler=commands.top)
    top.add_argument("--sort", choices=SORT_KEYS, default="present", help="sort by (default present)")
    top.add_argument(
        "--groups", action="store_true", help="the groups the node exports (PMSCAN_EXPORT_GROUPS)"
    )
    top.add_argument(
        "--containers", action="store_true", help="the node's containers (their processes added up)"
    )
    top.add_argument("-n", "--limit", type=int, default=20, help="rows shown (default 20; 0: all)")
    top.add_argument("-i", "--interval", type=float, metavar="SECONDS", help="refresh every SECONDS")
    top.add_argument("--count", type=int, metavar="N", help="with --interval: stop after N refreshes")

    watch = subcommands.add_parser(
        "watch",
        parents=[common, filter_options(without=(Category.WRITTEN,))],
        help="page counts of a process, tick after tick, and their rates",
        description="Page counts every --interval seconds, --count times, and their rate of change. "
        "--written: the pages written since the previous tick (WP_MATCHING over a userfaultfd-WP "
        "range, --range A-B) and the dirty rate.",
    )
    watch.set_defaults(handler=commands.watch)
    watch.add_argument("pid", type=int, nargs="?")
    _workload_options(watch)
    watch.add_argument("--interval", type=float, default=1.0, metavar="SECONDS", help="default 1")
    watch.add_argument("--count", type=int, default=60, metavar="N", help="ticks (default 60)")
    watch.add_argument(
        "--written",
        action="store_true",
        help="count the pages written since the previous tick and write-protect them again "
        "(WP_MATCHING; needs the write scope)",
    )

    picture = subcommands.add_parser(
        "map",
        parents=[common],
        help="a picture of a process's address space",
        description="One row per mapping, a bar of cells coloured by the state most of each "
        "cell's pages are in: present anon, present file, huge, swapped, zero page, guard, not populated.",
    )
    picture.set_defaults(handler=commands.map_picture)
    picture.add_argument("pid", type=int)
    picture.add_argument("--svg", metavar="FILE", type=Path, help="also write the picture as SVG to FILE")
    picture.add_argument(
        "--width", type=int, metavar="COLUMNS", help="columns (default: the terminal's, else 80)"
    )

    clear = subcommands.add_parser(
        "clear-soft-dirty",
        parents=[common],
        help="reset the soft-dirty bit of every page of a process (/proc/PID/clear_refs)",
        description="Reset the soft-dirty bit of every page of the process: the node writes 4 to "
        "/proc/PID/clear_refs (the write scope; a kernel with soft-dirty tracking: `pmscan caps` "
        "says soft_dirty). From then on the kernel marks each page written, and `pmscan summary "
        "PID --soft-dirty` counts them. Caveat: the count and the clear are two requests, not one "
        "step: pages written between a count and the next clear are cleared uncounted (lost); and "
        "the bits are the process's one set: any other tool tracking them (CRIU, say) loses its "
        "count too. For an exact count of the pages written, tick after tick, use `pmscan watch "
        "PID --written` on a userfaultfd-WP range: it counts and re-arms in one ioctl.",
    )
    clear.set_defaults(handler=commands.clear_soft_dirty)
    clear.add_argument("pid", type=int)

    fleet = subcommands.add_parser(
        "fleet",
        parents=[common, filters],
        help="ask many nodes at once",
        usage="pmscan fleet [URL ...] [--service NAME] "
        "{summary PID | summary --pod UID | summary --container ID | locate --pod UID | "
        "locate --container ID | caps | ps} [options]",
        description="The same question to every node: summary PID, caps, or ps; or where a "
        "workload runs: locate --pod UID (or --container ID), the nodes that run it, and "
        "summary --pod UID (or --container ID), its summary from the node that runs it. "
        "summary PID asks every node for its process PID: a pid names a different process on "
        "each node, so it makes sense only where the number means the same on all of them "
        "(pid 1, each node's init); to follow a workload, give --pod or --container.",
    )
    fleet.set_defaults(handler=commands.fleet)
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
    _workload_options(fleet, what="summary, locate")
    fleet.add_argument("--comm", help="ps: exact command name")
    fleet.add_argument("--uid", type=int, help="ps: real user id")
    return parser


def _workload_options(parser: argparse.ArgumentParser, what: str = "") -> None:
    """``--pod UID`` and ``--container ID``: a workload instead of a PID."""
    prefix = f"{what}: " if what else ""
    parser.add_argument("--pod", metavar="UID", help=f"{prefix}every process of this pod's containers")
    parser.add_argument(
        "--container", metavar="ID", help=f"{prefix}every process of this container (12 digits or more)"
    )
