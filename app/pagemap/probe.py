"""What the running kernel can do, found out by asking it (kernel-notes 5 and 11).

Support is never inferred from the kernel version: distributions backport. Each
category bit is tried once with a one-page scan of our own memory.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import mmap
import os
import struct
from dataclasses import dataclass

from . import _pagemap
from .categories import Category

__all__ = ["KernelCapabilities", "probe"]

#: The user address-space limit with 4-level paging (TASK_SIZE_MAX on x86-64).
_LIMIT_4LEVEL = 0x7FFFFFFFF000
_LIMIT_5LEVEL = 0xFFFFFFFFFFF000
_UNSUPPORTED = (errno.EINVAL, errno.ENOTTY)
_SOFT_DIRTY_BIT = 1 << 55


@dataclass(frozen=True)
class KernelCapabilities:
    kernel_release: str
    page_size: int
    pagemap_scan: bool
    categories: Category
    soft_dirty: bool
    user_address_limit: int

    @property
    def category_mask(self) -> int:
        return int(self.categories)


def _scan_own_page(fd: int, address: int, page_size: int, **masks: int) -> None:
    _pagemap.scan(fd, address, address + page_size, vec_len=1, **masks)


def _soft_dirty_works(fd: int, address: int, page_size: int) -> bool:
    """A freshly written page is soft-dirty when the kernel tracks soft-dirty at all."""
    entry = os.pread(fd, 8, address // page_size * 8)
    return bool(struct.unpack("<Q", entry)[0] & _SOFT_DIRTY_BIT)


@functools.cache
def probe() -> KernelCapabilities:
    """Probe the kernel once per process; raises OSError only for unexpected errors."""
    page_size = mmap.PAGESIZE
    area = mmap.mmap(-1, page_size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    fd = os.open("/proc/self/pagemap", os.O_RDONLY | os.O_CLOEXEC)
    try:
        area[0] = 1
        address = _address_of(area)
        supported = Category(0)
        has_ioctl = True
        try:
            _scan_own_page(fd, address, page_size)
        except OSError as err:
            if err.errno not in _UNSUPPORTED:
                raise
            has_ioctl = False
        if has_ioctl:
            for category in Category:
                try:
                    _scan_own_page(fd, address, page_size, return_mask=category.value)
                except OSError as err:
                    if err.errno not in _UNSUPPORTED:
                        raise
                else:
                    supported |= category
        return KernelCapabilities(
            kernel_release=os.uname().release,
            page_size=page_size,
            pagemap_scan=has_ioctl,
            categories=supported,
            soft_dirty=_soft_dirty_works(fd, address, page_size),
            user_address_limit=_user_address_limit(fd, page_size) if has_ioctl else _LIMIT_4LEVEL,
        )
    finally:
        os.close(fd)
        area.close()


def _user_address_limit(fd: int, page_size: int) -> int:
    """The kernel refuses (EFAULT) a range past the limit: ask it where that is."""
    try:
        _pagemap.scan(fd, _LIMIT_4LEVEL, _LIMIT_4LEVEL + page_size, vec_len=1)
    except OSError as err:
        if err.errno == errno.EFAULT:
            return _LIMIT_4LEVEL
        raise
    return _LIMIT_5LEVEL


def _address_of(area: mmap.mmap) -> int:
    buffer = (ctypes.c_char * len(area)).from_buffer(area)
    try:
        return ctypes.addressof(buffer)
    finally:
        del buffer
