"""Fixtures shared by the whole suite.

Markers (declared in pyproject.toml): ``root``, ``slow``, ``swap``, ``hugetlb``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hugetlb import HugePagesUnavailableError, reserved_huge_pages
from tests.support.swap import SwapUnavailableError, temporary_swap
from tests.support.target import Target, build_target

HUGE_PAGES_FOR_TESTS = 8
SOFT_DIRTY_BIT = 1 << 55


# ---- the target process --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def target_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tests/target/pmtarget.c`` compiled once per session into a temporary directory."""
    return build_target(tmp_path_factory.mktemp("pmtarget"))


@pytest.fixture
def target(target_binary: Path) -> Iterator[Target]:
    """A fresh, running target process; killed and reaped after the test."""
    with Target(target_binary) as t:
        yield t


# ---- system resources (root) -----------------------------------------------------------------


@pytest.fixture
def swap(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB swapfile enabled for the test (yields its path); always swapped off and deleted
    after. Skips when swap cannot be enabled (not root, filesystem refuses swapfiles, ...)."""
    with contextlib.ExitStack() as stack:
        try:
            path = stack.enter_context(temporary_swap(tmp_path))
        except SwapUnavailableError as e:
            pytest.skip(f"cannot enable a temporary swapfile: {e}")
        yield path


@pytest.fixture
def hugepages() -> Iterator[int]:
    """8 default-size (2 MiB) hugetlb pages reserved for the test (yields the count); the old
    ``/proc/sys/vm/nr_hugepages`` is restored after. Skips when the kernel cannot provide them."""
    with contextlib.ExitStack() as stack:
        try:
            count = stack.enter_context(reserved_huge_pages(HUGE_PAGES_FOR_TESTS))
        except HugePagesUnavailableError as e:
            pytest.skip(f"cannot reserve hugetlb pages: {e}")
        yield count


# ---- what this kernel can do ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def soft_dirty_works(target_binary: Path) -> bool:
    """Whether soft-dirty tracking functions here (``CONFIG_MEM_SOFT_DIRTY``), found by trying it:
    clear the bits, write one page of a target, and look for bit 55 of its ``/proc/PID/pagemap``
    entry. The kernel version says nothing; the bit is accepted by PAGEMAP_SCAN either way."""
    with Target(target_binary) as t:
        area = t.anon("probe", 1)
        t.write(area, 0)
        t.clear_soft_dirty()
        (cleared,) = t.pagemap_entries(area.start, area.end)
        t.write(area, 0)
        (written,) = t.pagemap_entries(area.start, area.end)
        return not cleared & SOFT_DIRTY_BIT and bool(written & SOFT_DIRTY_BIT)
