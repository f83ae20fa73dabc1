"""What the running kernel can do, found out by asking it (kernel-notes 5, 11 and 22).

Support is never inferred from the kernel version: distributions backport. Each
category bit is tried once with a one-page scan of our own memory; whether a kept pagemap
fails once its process is gone, once with a child process.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import mmap
import os
import struct
import subprocess
import sys
from dataclasses import dataclass

from . import _pagemap
from .categories import Category

__all__ = ["KernelCapabilities", "kept_pagemap_fails_once_gone", "probe"]

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


@functools.cache
def kept_pagemap_fails_once_gone() -> bool:
    """Whether an open ``/proc/PID/pagemap`` refuses ``PAGEMAP_SCAN`` with ``ESRCH`` once the
    memory it was opened on is gone (the process exited, or ran ``execve``: kernel-notes 22),
    asked of this kernel once, with a child process that exits while its pagemap is open.
    Without it, a kept file could scan a torn-down mm as empty, successfully (kernel-notes 13).
    """
    child = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", "import os; os.read(0, 1)"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        fd = os.open(f"/proc/{child.pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        child.kill()
        child.wait()
        return False
    try:
        assert child.stdin is not None
        child.stdin.close()  # the child's read returns: it exits
        child.wait()
        try:
            _pagemap.count_scan(fd, 0, probe().user_address_limit, return_mask=1, category_anyof_mask=1)
        except OSError as err:
            return err.errno == errno.ESRCH
        return False
    finally:
        os.close(fd)


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
