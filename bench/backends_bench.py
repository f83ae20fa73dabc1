"""The ``pagemap`` backend (PAGEMAP_SCAN emulated from /proc/PID/pagemap) next to the ioctl.

For each layout the raw ioctl (``_pagemap.scan``, one call with a buffer large enough for the
whole answer) is timed next to one step of the ``pagemap`` backend with the same arguments, as
a scan makes it: a fresh target, so ``/proc/PID/smaps`` is read and parsed too. The emulation's
C walk alone (mappings already packed) is shown apart. Speed is printed as ioctl time / backend
time (1.0 = as fast as the kernel's ioctl; the target for the dense layout is >= 0.5).

Layouts: 1 GiB with every other page present (131072 present pages among 131072 holes), with a
PRESENT filter and unfiltered; a 16 GiB reserved range with 64 MiB touched, unfiltered: pagemap
has to be read page by page over all of it, where the ioctl skips empty page tables whole.

Run: ``.venv-dev/bin/python bench/backends_bench.py [--runs N]`` (root: the emulation derives
PFNZERO and HUGE only with CAP_SYS_ADMIN; without, those categories are left out of both).
Not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.pagemap import ScanArgs, TargetProcess, _pagemap, _pagemapfile, probe  # noqa: E402
from app.pagemap.categories import Category  # noqa: E402
from app.pagemap.emulation import PagemapBackend, _pack_mappings, emulation_support  # noqa: E402
from bench._timing import median_time  # noqa: E402
from tests.support.target import Target, build_target  # noqa: E402

GIB = 1 << 30
MIB = 1 << 20
#: What both can report here.
COMMON = int(probe().categories & emulation_support().categories)
VEC_LEN = 1 << 19
TARGET_RATIO = 0.5


def bench(target: Target, name: str, start: int, end: int, runs: int, *, category_mask: int = 0) -> None:
    args = ScanArgs(start=start, end=end, category_mask=category_mask, return_mask=COMMON)
    backend = PagemapBackend()
    pagemap_fd = os.open(f"/proc/{target.pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
    support = emulation_support()
    try:

        def ioctl() -> tuple[bytes, int, int]:
            return _pagemap.scan(  # type: ignore[no-any-return]
                pagemap_fd, start, end, category_mask=category_mask, return_mask=COMMON, vec_len=VEC_LEN
            )

        def emulated() -> tuple[bytes, int, int]:
            with TargetProcess(target.pid) as process:
                return backend.scan(process, start, args, max_pages=0, vec_len=VEC_LEN)

        with TargetProcess(target.pid) as process:
            vmas = _pack_mappings(process)

        def walk_only() -> tuple[bytes, int, int]:
            return _pagemapfile.scan(
                pagemap_fd,
                vmas,
                start,
                end,
                category_mask=category_mask,
                return_mask=COMMON,
                vec_len=VEC_LEN,
                zero_pfn=support.zero_pfn,
                kpageflags_fd=support.kpageflags_fd,
            )

        expected = ioctl()
        assert emulated() == expected == walk_only(), f"{name}: the backends disagree"
        t_ioctl = median_time(ioctl, runs)
        t_backend = median_time(emulated, runs)
        t_walk = median_time(walk_only, runs)
    finally:
        os.close(pagemap_fd)
    ratio = t_ioctl / t_backend
    print(f"\n{name}: {len(expected[0]) // 24} regions, {expected[2]} pages")
    print(f"  ioctl                    {t_ioctl * 1e3:8.2f} ms")
    print(f"  pagemap backend          {t_backend * 1e3:8.2f} ms   speed {ratio:5.2f} of the ioctl")
    print(f"    (its C walk alone      {t_walk * 1e3:8.2f} ms   speed {t_ioctl / t_walk:5.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=9, help="timed runs per measurement (median)")
    runs = parser.parse_args().runs
    print(f"categories compared: {Category(COMMON)!r}; target speed for the 1 GiB layout >= {TARGET_RATIO}")
    with tempfile.TemporaryDirectory() as build, Target(build_target(Path(build))) as target:
        dense = target.reserve("gib", GIB)
        target.write(dense, 0, GIB // target.page_size // 2, step=2)
        bench(
            target,
            "1 GiB, every other page, PRESENT",
            dense.start,
            dense.end,
            runs,
            category_mask=Category.PRESENT,
        )
        bench(target, "1 GiB, every other page, unfiltered", dense.start, dense.end, runs)
        sparse = target.reserve("sparse", 16 * GIB)
        target.write(sparse, 0, 64 * MIB // target.page_size)
        bench(target, "16 GiB reserved, 64 MiB touched, unfiltered", sparse.start, sparse.end, runs)


if __name__ == "__main__":
    main()
