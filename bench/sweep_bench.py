"""Scaling curves (issue 22): collection time and the target's worst stall against one process's
resident size and against the number of processes, ``smaps_rollup`` and pmscan in the same run;
the figures as JSON, and as SVG plots drawn from it.

Two sweeps; at each point every reader is measured in turn:

- **resident size** (``--sizes``, GiB): one target alone (no other process is counted, so the
  time and the stall are those of its size only), a reservation of the largest size written from
  its start up to each size in turn: the same process grows, its mapping stays the largest size;
- **process count** (``--counts``): export_bench's mix, that many targets of its six layouts in
  turn, the first of them its large one (``--count-large-gib`` mapped, ``--count-resident-gib``
  resident), which is where the stall is measured: the count's effect on a process's stall.

The readers: ``smaps_rollup`` (the bench's loop, one thread at normal priority, finding the
processes by their ``exe`` first as pmscan does), and a real pmscan server per ``--servers``
mode (export_bench's ``SERVERS``: ``daemonset`` as the DaemonSet runs it, normal priority without
CAP_SYS_NICE; ``root``, whose ``count_scan`` runs each kernel call SCHED_FIFO 1), each kept
running through a sweep and scraped with values never reused. A collection's time is the
reader's own (pmscan's ``pmscan_export_collection_duration_seconds``). The stall is
export_bench's: a SCHED_FIFO thread of the probe target times ``mmap`` + ``munmap`` of a page in a
loop while the reader collects (:class:`export_bench.StallMeter`; ``--trace`` adds the lock-hold
trace). Each point: ``--rounds`` rounds, in each the probe alone for a second ("no reader"), then
every reader for ``--runs`` collections. A point's worst stall is the worst pair of all its
rounds; its collection time, the median of all its collections. Goal (issue 22): pmscan's worst
stall at most 1 ms at any size.

Before each point's rounds, with the probe stopped, each reader's resident bytes (``Rss``;
pmscan's ``present - pfnzero``) and process count are recorded: they must agree. No swapfile (one
would serve every process of the machine): the half-swapped layout keeps its pages.

Each sweep's run is appended to ``--out``/sweep.json (the runs of a figure side by side) and every
plot redrawn from all its runs; ``--plot-only FILE`` redraws them without measuring. As root:

    .venv-dev/bin/python bench/sweep_bench.py --out docs/img [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
import export_bench as eb  # noqa: E402

from tests.support.target import Target, build_target  # noqa: E402

GIB = 1 << 30
RESULTS = "sweep.json"
PLOTS = {
    "stall-by-size": "worst stall against resident size",
    "collection-by-size": "collection time against resident size",
    "collection-by-count": "collection time against process count",
    "stall-by-count": "worst stall against process count",
}
ROLLUP = "smaps_rollup"


# -- measuring -----------------------------------------------------------------------------------


Reader = tuple[str, Callable[[], float], int | None]  # name, one collection (its seconds), server pid


def agreement(exe: re.Pattern[str], servers: dict[str, eb.Exporter]) -> dict[str, dict[str, int]]:
    """Each reader's resident bytes and processes, read one after the other (the targets idle)."""
    seen = {}
    sizes = eb.smaps_rollup_collection(exe, 1)[1]
    seen[ROLLUP] = {"rss": sizes.rss, "processes": sum(1 for _ in eb.discover(exe))}
    for mode, exporter in servers.items():
        values = exporter.scrape()[2]
        seen[mode] = {
            "rss": eb.pmscan_sizes(values).rss,
            "processes": int(values["pmscan_group_processes"]),
        }
    return seen


def point(
    probe: Target,
    readers: list[Reader],
    servers: dict[str, eb.Exporter],
    exe: re.Pattern[str],
    *,
    runs: int,
    rounds: int,
    trace: bool,
) -> dict[str, Any]:
    """One point of a sweep: the readers' agreement, then ``rounds`` rounds under the probe."""
    for exporter in servers.values():
        exporter.scrape()  # opens and keeps the processes that are new since the last point
    result: dict[str, Any] = {
        "load": round(os.getloadavg()[0], 2),
        "started": time.strftime("%H:%M:%S", time.gmtime()),
        "agreement": agreement(exe, servers),
        "idle": [],
        "readers": {name: [] for name, _, _ in readers},
    }
    with eb.StallMeter(probe, trace=trace) as meter:
        for _ in range(rounds):
            idle = meter.idle()
            print(idle.line("no reader (1 s)"))
            result["idle"].append(kept(idle))
            for name, collect, server in readers:
                stall = meter.measure(collect, runs, server)
                print(stall.line(name))
                result["readers"][name].append(kept(stall))
    return result


def kept(stall: eb.Stall) -> dict[str, Any]:
    """What the results keep of a stall: times in ms, without the trace's report."""
    out = asdict(stall)
    del out["report"]
    out["collections"] = [round(t * 1e3, 3) for t in stall.collections]
    out["others"] = [round(t * 1e3, 3) for t in stall.others]
    out["steal_ms"] = round(stall.steal_ms, 1)
    return out


@contextlib.contextmanager
def readers_of(binary: Path, modes: list[str]) -> Iterator[tuple[list[Reader], dict[str, eb.Exporter]]]:
    """The readers of the targets running ``binary``: the smaps_rollup loop and a pmscan server
    per mode, the servers running while inside."""
    exe = re.compile(re.escape(str(binary)))
    with contextlib.ExitStack() as stack:
        servers = {
            mode: stack.enter_context(
                eb.Exporter(
                    binary,
                    categories=eb.DEFAULT_CATEGORIES,
                    concurrency=1,
                    span=eb.DEFAULT_SPAN,
                    prefix=eb.SERVERS[mode] or None,
                )
            )
            for mode in modes
        }
        readers: list[Reader] = [(ROLLUP, lambda: eb.smaps_rollup_collection(exe, 1)[0], None)]
        for mode, exporter in servers.items():
            readers.append((mode, lambda e=exporter: e.scrape()[0], exporter.server.pid))
        yield readers, servers


def size_sweep(binary: Path, sizes: list[float], options: argparse.Namespace) -> list[dict[str, Any]]:
    print(
        f"\nresident size: one target alone, a {max(sizes):g} GiB reservation written from its start"
        " up to each size"
    )
    exe = re.compile(re.escape(str(binary)))
    points = []
    with Target(binary, timeout=900) as probe, readers_of(binary, options.modes) as (readers, servers):
        area = probe.reserve("large", int(max(sizes) * GIB))
        written = 0
        for size in sorted(sizes):
            pages = int(size * GIB) // probe.page_size
            started = time.perf_counter()
            probe.write(area, written, pages - written)
            written = pages
            print(f" {size:g} GiB resident (written in {time.perf_counter() - started:.1f} s)")
            result = point(
                probe, readers, servers, exe, runs=options.runs, rounds=options.rounds, trace=options.trace
            )
            points.append({"gib": size, **result})
    return points


def count_sweep(
    binary: Path, counts: list[int], scratch: Path, options: argparse.Namespace
) -> list[dict[str, Any]]:
    print(
        f"\nprocess count: export_bench's mix, its large one {options.count_large_gib:g} GiB mapped,"
        f" {options.count_resident_gib:g} GiB resident (the stall is measured in it)"
    )
    exe = re.compile(re.escape(str(binary)))
    points = []
    with contextlib.ExitStack() as stack:
        probe = stack.enter_context(Target(binary, timeout=300))
        eb.large(probe, int(options.count_large_gib * GIB), int(options.count_resident_gib * GIB))
        targets = [probe]
        readers, servers = stack.enter_context(readers_of(binary, options.modes))
        for count in sorted(counts):
            started = time.perf_counter()
            eb.add_mix(targets, count, binary=binary, stack=stack, scratch=scratch, swap=False)
            print(f" {count} processes (started in {time.perf_counter() - started:.1f} s)")
            result = point(
                probe, readers, servers, exe, runs=options.runs, rounds=options.rounds, trace=options.trace
            )
            points.append({"processes": count, **result})
    return points


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
    ).stdout.strip()


# -- plotting ------------------------------------------------------------------------------------

COLOURS = {ROLLUP: "#c0392b", "daemonset": "#2471a3", "root": "#229954", "fifo": "#7d3c98"}
LABELS = {
    ROLLUP: "smaps_rollup",
    "daemonset": "pmscan, as the DaemonSet runs it",
    "root": "pmscan with CAP_SYS_NICE (real-time calls)",
    "fifo": "pmscan, all of it SCHED_FIFO",
    "idle": "no reader (the scheduler's own delays)",
}
MARKERS = ("o", "s", "^", "D", "v")
LINES: tuple[Any, ...] = ("-", "--", ":", "-.", (0, (5, 1)))
STYLE: dict[str, Any] = {
    "svg.hashsalt": "pmscan-sweep",  # the ids of the SVG's elements, the same every time
    "svg.fonttype": "none",  # text as text: small files
    "font.size": 9,
}


def worst(point: dict[str, Any], reader: str) -> float:
    rounds = point["idle"] if reader == "idle" else point["readers"][reader]
    return float(max(r["worst_ms"] for r in rounds))


def collection(point: dict[str, Any], reader: str) -> float:
    return float(statistics.median(t for r in point["readers"][reader] for t in r["collections"]))


def footer(runs: list[dict[str, Any]]) -> str:
    lines = []
    for number, run in enumerate(runs, 1):
        loads = [p["load"] for sweep in ("size", "count") for p in run.get(sweep, [])]
        load = f"{min(loads):.1f}\N{EN DASH}{max(loads):.1f}" if loads else "?"
        code = run["commit"] + (" with local changes" if run["dirty"] else "")
        lines.append(
            f"run {number}: {run['started']}\N{EN DASH}{run['finished'][11:]} UTC,"
            f" load average {load}, code {code}"
        )
    commands = dict.fromkeys(run["command"] for run in runs)
    lines.append(f"{runs[0]['machine']} · " + " / ".join(commands))
    return "\n".join(lines)


def plot(runs: list[dict[str, Any]], name: str, out: Path) -> Path:
    """Draw plot ``name`` (of :data:`PLOTS`) of ``runs`` into ``out``/name.svg."""
    import matplotlib  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415 - only the plots need it
    from matplotlib.lines import Line2D  # noqa: PLC0415
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator  # noqa: PLC0415

    what, _, by = name.partition("-by-")
    sweep = "size" if by == "size" else "count"
    xkey = "gib" if sweep == "size" else "processes"
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(9, 4.8), layout="constrained")
        axes = figure.add_subplot()
        readers: list[str] = []
        for number, run in enumerate(runs):
            points = run.get(sweep, [])
            if not points:
                continue
            names = list(points[0]["readers"])
            if what == "stall":
                names.append("idle")
            for reader in names:
                if reader not in readers:
                    readers.append(reader)
                xs = [p[xkey] for p in points]
                ys = [(worst if what == "stall" else collection)(p, reader) for p in points]
                axes.plot(
                    xs,
                    ys,
                    color=COLOURS.get(reader, "#7f8c8d"),
                    marker=MARKERS[number % len(MARKERS)],
                    linestyle=LINES[number % len(LINES)],
                    linewidth=1.2 if reader != "idle" else 0.8,
                    markersize=5,
                    fillstyle="none" if number else "full",
                )
        handles = [Line2D([], [], color=COLOURS.get(r, "#7f8c8d"), label=LABELS.get(r, r)) for r in readers]
        if what == "stall":
            axes.axhline(eb.GOAL_STALL_MS, color="black", linewidth=0.8, linestyle=(0, (2, 2)))
            handles.append(
                Line2D([], [], color="black", linewidth=0.8, linestyle=(0, (2, 2)), label="the goal: 1 ms")
            )
        handles += [
            Line2D(
                [],
                [],
                color="black",
                marker=MARKERS[n % len(MARKERS)],
                linestyle=LINES[n % len(LINES)],
                fillstyle="none" if n else "full",
                label=f"run {n + 1}",
            )
            for n in range(len(runs))
        ]
        figure.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
        axes.set_yscale("log")
        plain = FuncFormatter(lambda value, _: f"{value:g}")
        axes.yaxis.set_major_formatter(plain)
        axes.yaxis.set_minor_formatter(  # 2 and 5 of each decade
            FuncFormatter(lambda value, _: f"{value:g}" if f"{value:.0e}"[0] in "25" else "")
        )
        axes.set_xscale("log", base=2 if sweep == "size" else 10)
        ticks = sorted({p[xkey] for run in runs for p in run.get(sweep, [])})
        axes.xaxis.set_major_locator(FixedLocator(ticks))
        axes.xaxis.set_minor_locator(NullLocator())
        axes.xaxis.set_major_formatter(plain)
        axes.grid(True, which="both", linewidth=0.3, alpha=0.5)
        axes.set_xlabel(
            "resident size of the one process counted (GiB)"
            if sweep == "size"
            else "processes counted (export_bench's mix of six layouts, one of them"
            f" {runs[0]['options']['count_resident_gib']:g} GiB resident)"
        )
        axes.set_ylabel(
            "worst mmap + munmap pair in the target (ms)" if what == "stall" else "collection time (ms)"
        )
        axes.set_title(f"pmscan and smaps_rollup: {PLOTS[name]}", fontsize=10)
        figure.supxlabel(footer(runs), fontsize=6.5, x=0.01, horizontalalignment="left")
        path = out / f"{name}.svg"
        figure.savefig(path, format="svg", metadata={"Date": None})
    return path


def plot_all(results: Path, out: Path) -> list[Path]:
    runs = json.loads(results.read_text())["runs"]
    out.mkdir(parents=True, exist_ok=True)
    return [plot(runs, name, out) for name in PLOTS]


# -- the command ---------------------------------------------------------------------------------


def numbers(text: str) -> list[float]:
    return [float(n) for n in text.split(",") if n]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,2,4,8,16", help="resident GiB of the size sweep ('' for none)")
    parser.add_argument(
        "--counts", default="100,300,1000,2000", help="processes of the count sweep ('' for none)"
    )
    parser.add_argument("--runs", type=int, default=5, help="collections per reader per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per point, every reader in each")
    parser.add_argument("--servers", default="daemonset,root", help="pmscan's modes (export_bench's SERVERS)")
    parser.add_argument("--count-large-gib", type=float, default=8.0, help="the mix's large process, mapped")
    parser.add_argument("--count-resident-gib", type=float, default=1.0, help="of it resident")
    parser.add_argument(
        "--trace", action="store_true", help="the lock-hold trace of every reader (lock_holds)"
    )
    parser.add_argument("--machine", default=f"{os.cpu_count()} CPUs, Linux {os.uname().release}")
    parser.add_argument(
        "--out", type=Path, help="the directory of sweep.json (a run is appended) and the plots"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes and counts, one round")
    parser.add_argument("--plot-only", type=Path, metavar="RESULTS", help="redraw the plots of a sweep.json")
    options = parser.parse_args()
    if options.plot_only:
        for path in plot_all(options.plot_only, options.out or options.plot_only.parent):
            print(path)
        return
    if options.out is None:
        parser.error("--out DIR is needed (or --plot-only)")
    if options.quick:
        options.sizes, options.counts, options.runs, options.rounds = "0.0625,0.125", "6,12", 1, 1
        options.count_large_gib, options.count_resident_gib = 0.25, 1 / 32
    options.modes = options.servers.split(",")
    if set(options.modes) - set(eb.SERVERS):
        parser.error(f"--servers: of {', '.join(eb.SERVERS)}")
    run: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", "app", "bench", "tests")),
        "machine": options.machine,
        "command": shlex.join([".venv-dev/bin/python", *sys.argv]),
        "options": {k: v for k, v in vars(options).items() if k not in ("out", "plot_only", "modes")},
    }
    print(
        f"pmscan sweep benchmark, {run['started']} UTC, {run['machine']}, code {run['commit']}"
        f"{' with local changes' if run['dirty'] else ''}, load average {os.getloadavg()[0]:.1f}\n"
        f"command: {run['command']}"
    )
    with tempfile.TemporaryDirectory(prefix="pmscan-sweep-bench-") as scratch_name:
        scratch = Path(scratch_name)
        binary = build_target(scratch / "bin")
        if sizes := numbers(options.sizes):
            run["size"] = size_sweep(binary, sizes, options)
        if counts := [int(c) for c in numbers(options.counts)]:
            run["count"] = count_sweep(binary, counts, scratch, options)
    run["finished"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    summary(run)
    options.out.mkdir(parents=True, exist_ok=True)
    results = options.out / RESULTS
    kept = json.loads(results.read_text()) if results.exists() else {"runs": []}
    kept["runs"].append(run)
    results.write_text(json.dumps(kept, indent=1) + "\n")
    print(f"\nrun {len(kept['runs'])} of {results}; plots:")
    for path in plot_all(results, options.out):
        print(f"  {path}")
    print("all target processes ended")


def summary(run: dict[str, Any]) -> None:
    """Each point's worst stall and collection time by reader, and the goal's verdict."""
    for sweep, key, unit in (("size", "gib", "GiB"), ("count", "processes", "processes")):
        points = run.get(sweep, [])
        if not points:
            continue
        names = list(points[0]["readers"])
        print(f"\n{sweep}: worst stall ms / median collection ms; no reader's worst")
        print(f"  {unit:>10s}" + "".join(f" {n:>22s}" for n in names) + f" {'no reader':>10s}")
        for p in points:
            cells = "".join(f" {worst(p, n):10.2f} / {collection(p, n):9.1f}" for n in names)
            print(f"  {p[key]:>10g}{cells} {worst(p, 'idle'):10.2f}")
        for name in names[1:]:
            over = [p[key] for p in points if worst(p, name) > eb.GOAL_STALL_MS]
            print(
                f"  {name}: worst stall at most {eb.GOAL_STALL_MS:g} ms at every point:"
                f" {eb.verdict(not over)}"
                + (f" (over at {', '.join(f'{x:g}' for x in over)})" if over else "")
            )


if __name__ == "__main__":
    main()
