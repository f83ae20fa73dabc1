"""Reserve hugetlb pages for the duration of a ``with`` block."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

__all__ = ["NR_HUGEPAGES", "HugePagesUnavailableError", "reserved_huge_pages"]

NR_HUGEPAGES = Path("/proc/sys/vm/nr_hugepages")


class HugePagesUnavailableError(Exception):
    """The kernel did not provide the requested number of default-size huge pages."""


@contextlib.contextmanager
def reserved_huge_pages(count: int) -> Iterator[int]:
    """Set ``/proc/sys/vm/nr_hugepages`` to *count*; yield it; always restore the old value.

    Raises ``HugePagesUnavailableError`` if it cannot be written (not root) or memory is too fragmented
    for the kernel to find *count* pages.
    """
    old = int(NR_HUGEPAGES.read_text())
    try:
        NR_HUGEPAGES.write_text(f"{count}\n")
    except OSError as e:
        raise HugePagesUnavailableError(f"cannot write {NR_HUGEPAGES}: {e}") from e
    try:
        got = int(NR_HUGEPAGES.read_text())
        if got < count:
            raise HugePagesUnavailableError(f"asked for {count} huge pages, the kernel found {got}")
        yield got
    finally:
        NR_HUGEPAGES.write_text(f"{old}\n")
