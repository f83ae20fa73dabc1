"""Starting a scan of a process: open it safely, resolve defaults, pick a backend."""

from __future__ import annotations

from .backends import Backend, IoctlBackend, ScanArgs
from .categories import Category, ScanFlag
from .exceptions import Unsupported
from .probe import KernelCapabilities, probe
from .process import TargetProcess
from .scanner import DEFAULT_CHUNK_RECORDS, Scan

__all__ = ["BACKENDS", "choose_backend", "default_range", "open_scan"]

BACKENDS: dict[str, Backend] = {"ioctl": IoctlBackend()}


def choose_backend(name: str, kernel: KernelCapabilities) -> Backend:
    """``auto`` is the kernel's ioctl where it exists, the pagemap emulation otherwise."""
    if name == "auto":
        name = "ioctl" if kernel.pagemap_scan else "pagemap"
    if name == "ioctl" and not kernel.pagemap_scan:
        raise Unsupported("this kernel has no ioctl(PAGEMAP_SCAN) (Linux 6.7+); use backend 'pagemap'")
    backend = BACKENDS.get(name)
    if backend is None:
        raise Unsupported(f"backend {name!r} is not available on this server")
    return backend


def default_range(target: TargetProcess, limit: int) -> tuple[int, int]:
    """From the lowest mapped address to the highest mapped end at or below ``limit``
    (``[vsyscall]`` lies above it). ``(0, 0)`` for a process without mappings."""
    mappings = [m for m in target.maps() if m.end <= limit]
    if not mappings:
        return 0, 0
    return mappings[0].start, max(m.end for m in mappings)


def open_scan(
    pid: int,
    *,
    start: int | None = None,
    end: int | None = None,
    flags: int = 0,
    category_inverted: int = 0,
    category_mask: int = 0,
    category_anyof_mask: int = 0,
    return_mask: int | None = None,
    max_pages: int = 0,
    vec_len: int | None = None,
    backend: str = "auto",
    chunk_records: int = DEFAULT_CHUNK_RECORDS,
) -> Scan:
    """Open ``pid`` and prepare a scan of ``[start, end)``; the caller closes it.

    Raises ``Unsupported`` for a category bit the running kernel rejects, and the
    errors of :class:`TargetProcess`.
    """
    kernel = probe()
    used = category_inverted | category_mask | category_anyof_mask | (return_mask or 0)
    missing = used & ~kernel.category_mask
    if missing:
        names = ", ".join(c.name or hex(c.value) for c in Category(missing))
        raise Unsupported(f"this kernel does not know the category {names}")
    chosen = choose_backend(backend, kernel)
    target = TargetProcess(pid)
    try:
        if start is None or end is None:
            low, high = default_range(target, kernel.user_address_limit)
            start = low if start is None else start
            end = max(high, start) if end is None else end
        args = ScanArgs(
            start=start,
            end=end,
            flags=ScanFlag(flags),
            category_inverted=category_inverted,
            category_mask=category_mask,
            category_anyof_mask=category_anyof_mask,
            return_mask=kernel.category_mask if return_mask is None else return_mask,
            max_pages=max_pages,
            vec_len=vec_len,
        )
        return Scan(target, args, chosen, chunk_records=chunk_records)
    except BaseException:
        target.close()
        raise
