"""pmscan's domain: PAGEMAP_SCAN of a process, in plain Python over a small C layer.

Nothing here imports FastAPI or pydantic; it can be used from a REPL::

    from app.pagemap import Category, ScanOptions, iter_regions, open_scan
    scan = open_scan(1234, ScanOptions(category_mask=Category.PRESENT))
    for region in iter_regions(scan.run()): ...
"""

from .backends import Backend, IoctlBackend, ScanArgs
from .categories import Category, ScanFlag, category_names, parse_mask
from .emulation import EmulationSupport, PagemapBackend, emulation_support
from .exceptions import (
    AccessDenied,
    AmbiguousContainer,
    CgroupNotFound,
    ContainerNotFound,
    InvalidScan,
    NotWPAsync,
    PagemapError,
    PodNotFound,
    ProcessGone,
    ProcessNotFound,
    ScanTimeout,
    Unsupported,
)
from .maps import Mapping, parse_maps
from .probe import KernelCapabilities, probe
from .process import TargetProcess
from .region import PageRegion, iter_regions
from .scanner import Scan
from .session import BACKENDS, ScanOptions, choose_backend, open_scan
from .summary import ScanSummary, summarize

__all__ = [
    "BACKENDS",
    "AccessDenied",
    "AmbiguousContainer",
    "Backend",
    "Category",
    "CgroupNotFound",
    "ContainerNotFound",
    "EmulationSupport",
    "InvalidScan",
    "IoctlBackend",
    "KernelCapabilities",
    "Mapping",
    "NotWPAsync",
    "PageRegion",
    "PagemapBackend",
    "PagemapError",
    "PodNotFound",
    "ProcessGone",
    "ProcessNotFound",
    "Scan",
    "ScanArgs",
    "ScanFlag",
    "ScanOptions",
    "ScanSummary",
    "ScanTimeout",
    "TargetProcess",
    "Unsupported",
    "category_names",
    "choose_backend",
    "emulation_support",
    "iter_regions",
    "open_scan",
    "parse_maps",
    "parse_mask",
    "probe",
    "summarize",
]
