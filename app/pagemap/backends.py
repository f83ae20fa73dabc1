"""Where scan answers come from: the kernel's ioctl, or (issue 5) an emulation.

A backend answers one bounded step of a scan with the C layer's contract:
``(records, walk_end, pages)`` where ``walk_end`` is a correct resume point.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

from . import _pagemap
from .categories import Category, ScanFlag
from .exceptions import translate_errors
from .probe import KernelCapabilities
from .process import TargetProcess

__all__ = ["Backend", "IoctlBackend", "ScanArgs"]


@dataclass(frozen=True)
class ScanArgs:
    """``struct pm_scan_arg`` without the output buffer. Addresses in bytes, ``[start, end)``.

    ``max_pages`` 0 means no limit; ``vec_len`` None means no limit on the number of
    regions, 0 means report none (the scan still runs, e.g. to reset write-protection).
    """

    start: int
    end: int
    flags: ScanFlag = field(default=ScanFlag(0))
    category_inverted: int = 0
    category_mask: int = 0
    category_anyof_mask: int = 0
    return_mask: int = 0
    max_pages: int = 0
    vec_len: int | None = None

    def __post_init__(self) -> None:
        # The C layer converts max_pages without an overflow check (format "K"): a value past
        # a u64 would wrap silently, to 0 (no limit) for 2^64. Any u64 is fine: it is a bound,
        # never a size (each call's vector is bounded by the scan's chunk).
        if not 0 <= self.max_pages < 1 << 64:
            raise ValueError(f"max_pages must be a u64, not {self.max_pages}")
        if self.vec_len is not None and not 0 <= self.vec_len < 1 << 64:
            raise ValueError(f"vec_len must be a u64, not {self.vec_len}")

    def without_side_effects(self) -> ScanArgs:
        """The same selection of pages, neither write-protecting nor checking for it."""
        return replace(self, flags=ScanFlag(0))


class Backend(Protocol):
    name: str

    def categories(self, kernel: KernelCapabilities) -> Category:
        """The categories this backend can report on this machine."""
        ...

    def scan(
        self, target: TargetProcess, start: int, args: ScanArgs, *, max_pages: int, vec_len: int
    ) -> tuple[bytes, int, int]:
        """One step over ``[start, args.end)``: at most ``vec_len`` (> 0) records."""
        ...


class IoctlBackend:
    """The kernel's own ``ioctl(PAGEMAP_SCAN)`` (Linux 6.7+)."""

    name = "ioctl"

    def categories(self, kernel: KernelCapabilities) -> Category:
        return kernel.categories

    def scan(
        self, target: TargetProcess, start: int, args: ScanArgs, *, max_pages: int, vec_len: int
    ) -> tuple[bytes, int, int]:
        with translate_errors("scan", f"process {target.pid}"):
            return _pagemap.scan(
                target.pagemap_fd,
                start,
                args.end,
                flags=int(args.flags),
                category_inverted=args.category_inverted,
                category_mask=args.category_mask,
                category_anyof_mask=args.category_anyof_mask,
                return_mask=args.return_mask,
                max_pages=max_pages,
                vec_len=vec_len,
            )
