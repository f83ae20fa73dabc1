"""Starting a scan of a process: open it safely, resolve defaults, pick a backend."""

from __future__ import annotations

from dataclasses import dataclass

from .backends import Backend, IoctlBackend, ScanArgs
from .categories import Category, ScanFlag
from .emulation import PagemapBackend
from .exceptions import Unsupported
from .policy import Authorize
from .probe import KernelCapabilities, probe
from .process import TargetProcess
from .scanner import DEFAULT_CHUNK_RECORDS, Scan

__all__ = ["BACKENDS", "ScanOptions", "choose_backend", "open_scan"]

BACKENDS: dict[str, Backend] = {"ioctl": IoctlBackend(), "pagemap": PagemapBackend()}


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


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """What to scan, as a caller states it: ``struct pm_scan_arg``'s fields, with defaults that
    :func:`open_scan` resolves against the process and the kernel.

    ``start``/``end`` (bytes, ``[start, end)``): ``None`` for the lowest mapped address and the
    highest mapped end at or below the user address-space limit. ``return_mask`` ``None``: every
    category the chosen backend reports here. ``max_pages`` 0: no limit. ``vec_len`` ``None``: no
    limit on regions; 0: report none (the walk still runs). ``backend``: ``auto``, ``ioctl`` or
    ``pagemap``.
    """

    start: int | None = None
    end: int | None = None
    flags: int = 0
    category_inverted: int = 0
    category_mask: int = 0
    category_anyof_mask: int = 0
    return_mask: int | None = None
    max_pages: int = 0
    vec_len: int | None = None
    backend: str = "auto"


def open_scan(
    pid: int,
    options: ScanOptions = ScanOptions(),
    *,
    authorize: Authorize | None = None,
    chunk_records: int = DEFAULT_CHUNK_RECORDS,
    deadline: float | None = None,
    span_pages: int = 0,
) -> Scan:
    """Open ``pid`` and prepare the scan ``options`` describe; the caller closes it.

    Raises ``Unsupported`` for a category bit the chosen backend cannot report here (the
    kernel rejects it, or the emulation cannot derive it), and the errors of
    :class:`TargetProcess`. ``deadline`` (``time.monotonic()``) bounds the
    scan, ``span_pages`` each kernel call: see :class:`Scan`.
    """
    kernel = probe()
    chosen = choose_backend(options.backend, kernel)
    known = int(chosen.categories(kernel))
    start, end, return_mask = options.start, options.end, options.return_mask
    used = options.category_inverted | options.category_mask | options.category_anyof_mask
    used |= return_mask or 0
    missing = used & ~known
    if missing:
        names = ", ".join(c.name or hex(c.value) for c in Category(missing))
        raise Unsupported(f"backend {chosen.name!r} cannot report the category {names} on this machine")
    target = TargetProcess(pid, authorize=authorize)
    try:
        if start is None or end is None:
            # [vsyscall] lies above the user address-space limit: it is left out.
            low, high = target.mapped_range(kernel.user_address_limit)
            if start is None:
                # An end below every mapping makes the range empty, not reversed (EFAULT).
                start = low if end is None else min(low, end - end % kernel.page_size)
            end = max(high, start) if end is None else end
        args = ScanArgs(
            start=start,
            end=end,
            flags=ScanFlag(options.flags),
            category_inverted=options.category_inverted,
            category_mask=options.category_mask,
            category_anyof_mask=options.category_anyof_mask,
            return_mask=known if return_mask is None else return_mask,
            max_pages=options.max_pages,
            vec_len=options.vec_len,
        )
        return Scan(
            target, args, chosen, chunk_records=chunk_records, deadline=deadline, span_pages=span_pages
        )
    except BaseException:
        target.close()
        raise
