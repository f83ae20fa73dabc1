"""``pmscan map`` of a 16 GiB sparse mapping, against the same picture without it.

A target reserves 16 GiB (``MAP_NORESERVE``) and writes one page every GiB; another target is
the same program without that mapping. The whole picture — capabilities, maps, one scan for
populated pages only, the cells, the drawing, through a real server — is timed for both, in
this process (the interpreter's start-up is left out). Printed: both times and their ratio
(target: the 16 GiB cost next to nothing, and the picture well under a second), and, for scale,
reading the mapping's 4,194,304 ``/proc/PID/pagemap`` entries (32 MiB) page by page.

Run: ``.venv-dev/bin/python bench/map_bench.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _timing import median_time  # noqa: E402
from pmscan_client.cli.main import main  # noqa: E402

from tests.support.server import ServerProcess  # noqa: E402
from tests.support.target import Target, build_target  # noqa: E402

GIB = 1 << 30


def main_bench() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    binary = build_target(Path(REPO / "build" / "bench"))
    with ServerProcess(auth="off") as server, Target(binary) as target, Target(binary) as plain:
        area = target.reserve("sparse", 16 * GIB)
        pages = area.size // target.page_size
        target.write(area, 0, 16, pages // 16)

        def picture_of(pid: int) -> None:
            out = io.StringIO()
            assert main(["--url", server.url, "map", str(pid)], stdout=out) == 0

        def picture() -> None:
            picture_of(target.pid)

        def picture_without() -> None:
            picture_of(plain.pid)

        def page_by_page() -> None:
            fd = os.open(f"/proc/{target.pid}/pagemap", os.O_RDONLY)
            try:
                offset, end = area.start // target.page_size * 8, area.end // target.page_size * 8
                while offset < end:
                    chunk = os.pread(fd, min(1 << 20, end - offset), offset)
                    offset += len(chunk)
            finally:
                os.close(fd)

        # Interleaved, one run of each a round: on a shared machine both see the same load.
        rounds = [(median_time(picture, 1), median_time(picture_without, 1)) for _ in range(args.runs)]
        drawn = statistics.median(r[0] for r in rounds)
        without = statistics.median(r[1] for r in rounds)
        read = median_time(page_by_page, args.runs)
    print(f"pmscan map with a 16 GiB sparse mapping (16 pages): {drawn * 1000:8.1f} ms")
    print(f"pmscan map of the same program without it:          {without * 1000:8.1f} ms")
    print(f"ratio: {drawn / without:.2f} (the 16 GiB cost next to nothing)")
    print(f"for scale, its pagemap read page by page (32 MiB):  {read * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main_bench())
