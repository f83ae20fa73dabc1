"""PAGEMAP_SCAN's answers computed from ``/proc/PID/pagemap``, for kernels without the ioctl.

The ``pagemap`` backend reads one 64-bit entry per page (kernel-notes 16) and classifies
it as the kernel's ``pagemap_page_category`` would (``_pagemapfile.c``). What the entries
do not say comes from ``/proc/PID/smaps``: which ranges are mappings (gaps between them
are never reported), which mappings the kernel skips (``VM_PFNMAP``), which are hugetlb,
which hold PMD-mapped transparent huge pages, which are registered for userfaultfd
write-protection (``PAGE_IS_WPALLOWED``, with the registration's features from the
userfaultfd's ``fdinfo``).

Some categories need privilege: ``PFNZERO`` the page frame numbers (``CAP_SYS_ADMIN``),
``HUGE`` also ``/proc/kpageflags``; ``GUARD`` needs a kernel whose pagemap marks guard
regions (6.15+), or one without guard regions. :func:`emulation_support` finds out by
trying. Write-protection (``WP_MATCHING``) cannot be emulated: user space has no way to
report and protect pages atomically.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import mmap
import os
import struct
import threading
import weakref
from dataclasses import dataclass, field

from . import _pagemapfile
from .backends import ScanArgs
from .categories import Category, ScanFlag
from .exceptions import ProcessGone, Unsupported, translate_errors
from .probe import KernelCapabilities
from .process import TargetProcess
from .smaps import SmapsMapping, parse_smaps

__all__ = ["EmulationSupport", "PagemapBackend", "emulation_support"]

_VMA = struct.Struct("<QQQQ")
_PFN_MASK = (1 << 55) - 1
_PM_GUARD = 1 << 58
_PM_PRESENT = 1 << 63
#: ``MADV_GUARD_INSTALL`` (Linux 6.13+).
_MADV_GUARD_INSTALL = 102
#: ``UFFD_FEATURE_WP_UNPOPULATED`` and ``UFFD_FEATURE_WP_ASYNC`` (include/uapi/linux/userfaultfd.h).
_UFFD_WP_UNPOPULATED = 1 << 13
_UFFD_WP_ASYNC = 1 << 15


@dataclass(frozen=True)
class EmulationSupport:
    """What the ``pagemap`` backend can derive on this machine, with these privileges.

    ``zero_pfn`` is the frame of the zero page (0 when frame numbers are hidden), and
    ``kpageflags_fd`` an open ``/proc/kpageflags`` (-1 when unreadable). ``missing``
    says, for each category it cannot derive, why.
    """

    categories: Category
    zero_pfn: int
    kpageflags_fd: int
    missing: dict[Category, str] = field(default_factory=dict)


def _own_page_entry(area: mmap.mmap, page_size: int) -> int:
    """The ``/proc/self/pagemap`` entry of the first page of ``area``."""
    buffer = (ctypes.c_char * len(area)).from_buffer(area)
    try:
        address = ctypes.addressof(buffer)
    finally:
        del buffer
    fd = os.open("/proc/self/pagemap", os.O_RDONLY | os.O_CLOEXEC)
    try:
        (entry,) = struct.unpack("<Q", os.pread(fd, 8, address // page_size * 8))
    finally:
        os.close(fd)
    return int(entry)


def _zero_pfn(page_size: int) -> int:
    """Read a never-written anonymous page (the kernel maps its zero page there) and ask
    pagemap for its frame; 0 without ``CAP_SYS_ADMIN``, which hides all frames."""
    with mmap.mmap(-1, page_size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS) as area:
        _ = area[0]
        entry = _own_page_entry(area, page_size)
    return entry & _PFN_MASK if entry & _PM_PRESENT else 0


def _guard_regions_visible(page_size: int) -> bool:
    """Whether pagemap can tell guard pages: true where the kernel marks them (bit 58,
    6.15+) and where it has no guard regions at all (nothing to tell)."""
    with mmap.mmap(-1, page_size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS) as area:
        try:
            area.madvise(_MADV_GUARD_INSTALL)
        except OSError as err:
            if err.errno == errno.EINVAL:
                return True
            raise
        return bool(_own_page_entry(area, page_size) & _PM_GUARD)


def _open_kpageflags() -> int:
    try:
        fd = os.open("/proc/kpageflags", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return -1
    try:
        os.pread(fd, 8, 0)
    except OSError:
        os.close(fd)
        return -1
    return fd


@functools.cache
def emulation_support() -> EmulationSupport:
    """Find out once per process what the emulation can derive here (by trying, never
    from the kernel version); keeps ``/proc/kpageflags`` open for the scans."""
    page_size = mmap.PAGESIZE
    zero_pfn = _zero_pfn(page_size)
    kpageflags_fd = _open_kpageflags() if zero_pfn else -1
    missing = {}
    if not zero_pfn:
        missing[Category.PFNZERO] = "page frame numbers are hidden without CAP_SYS_ADMIN"
    if kpageflags_fd < 0:
        missing[Category.HUGE] = (
            "telling transparent huge pages needs /proc/kpageflags and page frame numbers "
            "(root with CAP_SYS_ADMIN)"
        )
    if not _guard_regions_visible(page_size):
        missing[Category.GUARD] = "this kernel's /proc/PID/pagemap does not mark guard regions"
    categories = Category(sum(Category) & ~sum(missing))
    return EmulationSupport(categories, zero_pfn, kpageflags_fd, missing)


def _is_anonymous(mapping: SmapsMapping) -> bool:
    """A private anonymous mapping (the kernel's ``vma_is_anonymous``): no file behind it,
    and not one of the special mappings (``[vdso]``, ``[vvar]``, ...)."""
    return (
        mapping.inode == 0
        and mapping.perms.endswith("p")
        and (mapping.path in ("", "[heap]", "[stack]") or mapping.path.startswith(("[anon:", "[stack:")))
    )


def _userfaultfd_features(target: TargetProcess) -> list[int]:
    """The features of the userfaultfds the target holds (from their ``fdinfo``)."""
    features = []
    for fd, link in target.fds().items():
        if link != "anon_inode:[userfaultfd]":
            continue
        try:
            text = target.read(f"fdinfo/{fd}").decode()
        except ProcessGone:
            continue  # closed meanwhile; the scan checks at its end that the process lives
        for line in text.splitlines():
            if line.startswith("API:"):
                features.append(int(line.split(":")[2], 16))
    return features


def _wp_async(target: TargetProcess) -> tuple[bool, bool]:
    """Whether write-protect registrations are asynchronous, and whether they place markers
    on unpopulated anonymous pages (``WP_UNPOPULATED``): ``pagemap_scan_test_walk`` gives
    ``WPALLOWED`` only to those. smaps tells a mapping is registered (``uw``), not with
    which userfaultfd: with several, any asynchronous one decides; with none held by the
    target (another process may hold it), asynchronous is assumed, the mode PAGEMAP_SCAN
    users register."""
    features = _userfaultfd_features(target)
    if not features:
        return True, True
    asynchronous = [f for f in features if f & _UFFD_WP_ASYNC]
    return bool(asynchronous), any(f & _UFFD_WP_UNPOPULATED for f in asynchronous)


def _pack_mappings(target: TargetProcess) -> bytes:
    """The target's mappings packed for ``_pagemapfile.scan``."""
    mappings = parse_smaps(target.read("smaps").decode(errors="surrogateescape"))
    wp_async: tuple[bool, bool] | None = None
    records = []
    for m in mappings:
        flags = 0
        if "pf" in m.vm_flags:
            flags |= _pagemapfile.VMA_SKIP
        if "ht" in m.vm_flags:
            flags |= _pagemapfile.VMA_HUGETLB
        anonymous = _is_anonymous(m)
        if anonymous:
            flags |= _pagemapfile.VMA_ANON
        pmd_mapped = ("AnonHugePages", "ShmemPmdMapped", "FilePmdMapped")
        if any(m.sizes.get(key, 0) for key in pmd_mapped):
            flags |= _pagemapfile.VMA_THP
        categories = 0
        if "uw" in m.vm_flags:
            if wp_async is None:
                wp_async = _wp_async(target)
            asynchronous, unpopulated = wp_async
            if asynchronous and (unpopulated or not anonymous):
                categories |= Category.WPALLOWED
        records.append(_VMA.pack(m.start, m.end, categories, flags))
    return b"".join(records)


class PagemapBackend:
    """PAGEMAP_SCAN emulated from ``/proc/PID/pagemap`` (any kernel with a pagemap).

    The same answers as :class:`~app.pagemap.backends.IoctlBackend` (tests compare them),
    except where pagemap cannot tell (see ``_pagemapfile.c``): an empty page table left
    behind is taken for none, and a transparent huge page split into page-table
    mappings with its flags unchanged for a whole one. Raises ``Unsupported`` for
    ``WP_MATCHING`` and for a category it cannot derive here.

    The target's mappings are read once per scan (a step that does not go forward
    starts a new one): a scan sees them as they were when it began.
    """

    name = "pagemap"

    def __init__(self, support: EmulationSupport | None = None) -> None:
        self._support = support
        self._lock = threading.Lock()
        self._mappings: weakref.WeakKeyDictionary[TargetProcess, tuple[int, bytes]] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def support(self) -> EmulationSupport:
        return self._support or emulation_support()

    def categories(self, kernel: KernelCapabilities) -> Category:
        return self.support.categories

    def scan(
        self, target: TargetProcess, start: int, args: ScanArgs, *, max_pages: int, vec_len: int
    ) -> tuple[bytes, int, int]:
        if args.flags & ScanFlag.WP_MATCHING:
            raise Unsupported(
                "backend 'pagemap' cannot do WP_MATCHING: there is no atomic write-protect "
                "from user space (it needs the kernel's ioctl(PAGEMAP_SCAN), Linux 6.7+)"
            )
        support = self.support
        self._check_categories(args, support)
        mappings = self._mapping_records(target, start)
        with translate_errors("scan", f"process {target.pid}"):
            return _pagemapfile.scan(
                target.pagemap_fd,
                mappings,
                start,
                args.end,
                category_inverted=args.category_inverted,
                category_mask=args.category_mask,
                category_anyof_mask=args.category_anyof_mask,
                return_mask=args.return_mask,
                max_pages=max_pages,
                vec_len=vec_len,
                check_wpasync=bool(args.flags & ScanFlag.CHECK_WPASYNC),
                zero_pfn=support.zero_pfn,
                kpageflags_fd=support.kpageflags_fd,
            )

    @staticmethod
    def _check_categories(args: ScanArgs, support: EmulationSupport) -> None:
        # The kernel looks only at these: a category inverted but not asked for is unused.
        used = Category(args.category_mask | args.category_anyof_mask | args.return_mask)
        for category in Category:
            if category in used and category in support.missing:
                raise Unsupported(
                    f"backend 'pagemap' cannot derive {category.name} here: {support.missing[category]}"
                )

    def _mapping_records(self, target: TargetProcess, start: int) -> bytes:
        with self._lock:
            cached = self._mappings.get(target)
        records = cached[1] if cached is not None and start > cached[0] else _pack_mappings(target)
        with self._lock:
            self._mappings[target] = (start, records)
        return records
