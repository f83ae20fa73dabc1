"""ioctl(PAGEMAP_SCAN) and the byte-level loops over its records (``_pagemap.c``; the loops in
``_encode.c`` and ``_counts.c``)."""

from typing import overload

RECORD_SIZE: int
PAGEMAP_SCAN: int
CATEGORY_BITS: int
PAGE_IS_WPALLOWED: int
PAGE_IS_WRITTEN: int
PAGE_IS_FILE: int
PAGE_IS_PRESENT: int
PAGE_IS_SWAPPED: int
PAGE_IS_PFNZERO: int
PAGE_IS_HUGE: int
PAGE_IS_SOFT_DIRTY: int
PAGE_IS_GUARD: int
PM_SCAN_WP_MATCHING: int
PM_SCAN_CHECK_WPASYNC: int

def scan(
    fd: int,
    start: int,
    end: int,
    *,
    flags: int = 0,
    category_inverted: int = 0,
    category_mask: int = 0,
    category_anyof_mask: int = 0,
    return_mask: int = 0,
    max_pages: int = 0,
    vec_len: int,
) -> tuple[bytes, int, int]: ...
def vma_at(maps_fd: int, address: int, /) -> tuple[int, int] | None: ...
def encode_regions(records: bytes, names: tuple[bytes, ...], separator: bytes, /) -> bytes: ...
@overload
def count_pages(records: bytes, page_size: int, bounds: None = None) -> tuple[int, ...]: ...
@overload
def count_pages(records: bytes, page_size: int, bounds: bytes) -> list[tuple[int, ...]]: ...
def count_scan(
    fd: int,
    start: int,
    end: int,
    *,
    return_mask: int,
    category_anyof_mask: int = 0,
    max_pages: int = 0,
    vec_len: int = 512,
    deadline: float = 0.0,
    realtime: bool = True,
) -> tuple[int, tuple[int, ...]]: ...
