"""``ioctl(PAGEMAP_SCAN)`` with every field of ``struct pm_scan_arg`` exactly as a C program sets it.

``_pagemap.scan`` allocates the ``vec_len`` records it is given and the target's ``scan`` command
``calloc``s them: neither can pass the kernel a ``vec_len`` of 2^40 or 2^64-1. This module can. It
calls the ioctl from the test process on ``/proc/PID/pagemap`` of another process (as the service
does), through ctypes, with a vector of ``capacity`` records mapped at a low address and followed by
a ``PROT_NONE`` page: the kernel's ``access_ok()`` checks the whole ``[vec, vec + 24 * vec_len)``
against the user address limit, so a low vector lets it take ``vec_len`` up to about
``(limit - vec) / 24`` (2^40 is well inside). It writes at most as many records as the scan finds:
keep the scanned range smaller than ``capacity`` regions (a longer answer would hit the guard page,
an ``EFAULT``, and never write past the vector).
"""

from __future__ import annotations

import ctypes
import mmap
import os
from types import TracebackType
from typing import NamedTuple

from app.pagemap import _pagemap

__all__ = ["U64_MAX", "RawAnswer", "RawScanner"]

U64_MAX = (1 << 64) - 1
_PAGEMAP_SCAN = _pagemap.PAGEMAP_SCAN  # _IOWR('f', 16, struct pm_scan_arg)
_MAP_FIXED_NOREPLACE = 0x100000
_PROT_NONE = 0
_LOW = 1 << 32  # 4 GiB: above the usual low mappings, far below the limit (2^47 - 4096)
_MAP_FAILED = ctypes.c_void_p(-1).value

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
_libc.ioctl.restype = ctypes.c_int


class _PmScanArg(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "size",
            "flags",
            "start",
            "end",
            "walk_end",
            "vec",
            "vec_len",
            "max_pages",
            "category_inverted",
            "category_mask",
            "category_anyof_mask",
            "return_mask",
        )
    ]


class _PageRegion(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint64), ("end", ctypes.c_uint64), ("categories", ctypes.c_uint64)]


assert ctypes.sizeof(_PmScanArg) == 96 and ctypes.sizeof(_PageRegion) == 24


class RawAnswer(NamedTuple):
    """The kernel's answer: ``errno`` (0 on success), ``walk_end`` and the regions it wrote."""

    errno: int
    walk_end: int
    regions: list[tuple[int, int, int]]


class RawScanner:
    """Raw scans of one process's pagemap; a context manager (closes the file, unmaps the vector)."""

    def __init__(self, pid: int, *, capacity: int = 4096) -> None:
        page = mmap.PAGESIZE
        self.capacity = capacity
        self._size = -(-capacity * ctypes.sizeof(_PageRegion) // page) * page + page
        address = _libc.mmap(
            _LOW,
            self._size,
            mmap.PROT_READ | mmap.PROT_WRITE,
            mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
        if address in (None, _MAP_FAILED):
            error = ctypes.get_errno()
            raise OSError(error, f"mmap of the vector at {_LOW:#x}: {os.strerror(error)}")
        self.vec: int = address
        if _libc.mprotect(address + self._size - page, page, _PROT_NONE):
            error = ctypes.get_errno()
            _libc.munmap(address, self._size)
            raise OSError(error, os.strerror(error))
        self._fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)

    def scan(
        self,
        start: int,
        end: int,
        *,
        flags: int = 0,
        vec_len: int = 0,
        max_pages: int = 0,
        category_inverted: int = 0,
        category_mask: int = 0,
        category_anyof_mask: int = 0,
        return_mask: int = 0,
        with_vec: bool | None = None,
    ) -> RawAnswer:
        """One ioctl with these u64 fields; the vector is passed when ``vec_len`` > 0 (or
        ``with_vec`` says so). A value past a u64 cannot be expressed in C: ``ValueError``."""
        fields = {
            "flags": flags,
            "start": start,
            "end": end,
            "vec_len": vec_len,
            "max_pages": max_pages,
            "category_inverted": category_inverted,
            "category_mask": category_mask,
            "category_anyof_mask": category_anyof_mask,
            "return_mask": return_mask,
        }
        for name, value in fields.items():
            if not 0 <= value <= U64_MAX:
                raise ValueError(f"{name} = {value} is not a __u64")
        pass_vec = vec_len > 0 if with_vec is None else with_vec
        arg = _PmScanArg(size=ctypes.sizeof(_PmScanArg), vec=self.vec if pass_vec else 0, **fields)
        ret = _libc.ioctl(self._fd, _PAGEMAP_SCAN, ctypes.byref(arg))
        if ret < 0:
            return RawAnswer(ctypes.get_errno(), arg.walk_end, [])
        assert ret <= self.capacity, "the kernel wrote past the vector's capacity"
        records = (_PageRegion * ret).from_address(self.vec)
        return RawAnswer(0, arg.walk_end, [(r.start, r.end, r.categories) for r in records])

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            _libc.munmap(self.vec, self._size)

    def __enter__(self) -> RawScanner:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
