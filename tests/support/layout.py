"""A target process with every kind of region a scan meets, for tests that need variety rather
than one exact layout (the stress tests, the fuzzer)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from tests.support.target import Area, Target

__all__ = ["Layout", "varied_target"]


class Layout(NamedTuple):
    """The target and its areas."""

    target: Target
    mixed: Area
    shared: Area
    tracked: Area

    @property
    def pid(self) -> int:
        return self.target.pid


@contextlib.contextmanager
def varied_target(binary: Path, directory: Path) -> Iterator[Layout]:
    """Anonymous pages written, read (the zero page), untouched and guarded (``mixed``); a shared
    file mapping in ``directory`` (``shared``); a range under async write-protection with a few
    pages written since (``tracked``)."""
    with Target(binary) as target:
        mixed = target.anon("mixed", 512)
        target.write(mixed, 0, 64)
        target.read(mixed, 64, 32)
        target.write(mixed, 100, 100, 2)
        target.guard(mixed, 300, 8)
        shared = target.file("shared", directory / "file", 16)
        target.write(shared, 0, 8)
        tracked = target.anon("tracked", 32)
        target.uffd_wp(tracked)
        target.write(tracked, 4, 4)
        yield Layout(target, mixed, shared, tracked)
