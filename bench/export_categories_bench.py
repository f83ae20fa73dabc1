"""What each exported category costs the exporter: the time to count one process's pages
(``app.export.count.count_process``, what a collection does per process) with the default
categories, with ``file`` added, and with every category; next to reading its
``/proc/PID/smaps_rollup``. Also the cost of the span bound (each kernel call walks at most
``PMSCAN_EXPORT_SPAN_BYTES``) against one unbounded walk.

The target: 1 GiB of anonymous memory, every page written (no THP: 262,144 small present pages,
the worst case for FILE's page lookup), and 64 MiB of a file mapping written.

Run: ``.venv-dev/bin/python bench/export_categories_bench.py [--runs N]``. Not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.export.count import DEFAULT_SPAN_BYTES, count_process  # noqa: E402
from app.pagemap import Category, probe  # noqa: E402
from app.settings import DEFAULT_EXPORT_CATEGORIES, parse_categories  # noqa: E402
from bench._timing import median_time  # noqa: E402
from tests.support.target import Target, build_target  # noqa: E402

MIB = 1 << 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    kernel = probe()
    page_size = kernel.page_size
    default = parse_categories(DEFAULT_EXPORT_CATEGORIES)
    cases = {
        f"default ({DEFAULT_EXPORT_CATEGORIES})": default,
        "default + file": default | Category.FILE,
        "every category": kernel.categories,
    }
    with tempfile.TemporaryDirectory() as build, Target(build_target(Path(build))) as target:
        pages = (1 << 30) // page_size
        anon = target.anon("dense", pages)
        target.write(anon, 0, pages)
        file_pages = 64 * MIB // page_size
        target.write(target.file("file", Path(build) / "data", file_pages), 0, file_pages)
        span = DEFAULT_SPAN_BYTES // page_size

        def rollup() -> bytes:
            return Path(f"/proc/{target.pid}/smaps_rollup").read_bytes()

        baseline = median_time(rollup, runs)
        print(f"1 GiB anonymous + 64 MiB file, all written; median of {runs} runs")
        print(f"  {'smaps_rollup':<44} {baseline * 1e3:7.2f} ms")
        timings = {}
        for name, categories in cases.items():
            timings[name] = median_time(
                lambda c=categories: count_process(  # type: ignore[misc]
                    target.pid, categories=c, page_size=page_size, span_pages=span
                ),
                runs,
            )
            print(
                f"  {name:<44} {timings[name] * 1e3:7.2f} ms  ({baseline / timings[name]:.1f}x smaps_rollup)"
            )
        whole = median_time(
            lambda: count_process(target.pid, categories=default, page_size=page_size, span_pages=0), runs
        )
        first = next(iter(timings))
        print(f"  {'default, one unbounded walk':<44} {whole * 1e3:7.2f} ms")
        print(f"file costs {timings['default + file'] / timings[first]:.1f}x the default's time;")
        print(
            f"the {DEFAULT_SPAN_BYTES // MIB} MiB span costs {timings[first] / whole:.2f}x one unbounded walk"
        )


if __name__ == "__main__":
    main()
