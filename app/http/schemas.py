"""The HTTP contract's bodies (docs/api.md). ``ScanRequest`` mirrors ``struct pm_scan_arg``.

Everything the kernel would reject is rejected here first, with a 422 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ..pagemap.categories import Category, ScanFlag, parse_mask
from ..pagemap.cgroups import parse_cgroup
from ..pagemap.probe import probe
from ..pagemap.session import ScanOptions
from ..pagemap.summary import Counts
from ..service.summaries import CgroupSummary, ProcessSummary

__all__ = [
    "Capabilities",
    "CategoryName",
    "CgroupPath",
    "CgroupSummaryResponse",
    "ErrorBody",
    "ErrorDetail",
    "MappingInfo",
    "ProcessInfo",
    "Region",
    "ScanDocument",
    "ScanRequest",
    "ScanTrailer",
    "SkippedProcess",
    "SummaryRequest",
    "SummaryResponse",
    "VmaSummary",
    "WatchRequest",
    "WatchTick",
    "WatchTrailer",
]

CategoryName = Literal[
    "WPALLOWED", "WRITTEN", "FILE", "PRESENT", "SWAPPED", "PFNZERO", "HUGE", "SOFT_DIRTY", "GUARD"
]
FlagName = Literal["WP_MATCHING", "CHECK_WPASYNC"]
U64_MAX = (1 << 64) - 1
#: The most ticks of a watch (its real bound is the server's PMSCAN_WATCH_MAX_SECONDS).
MAX_COUNT = 1 << 40


def _address(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().lower()
        if not text.startswith("0x"):
            raise ValueError('an address is an integer or a "0x…" hex string')
        try:
            return int(text, 16)
        except ValueError:
            raise ValueError(f"not a hex number: {value!r}") from None
    if isinstance(value, bool):
        raise ValueError("an address is an integer or a hex string, not a boolean")
    return value


def _mask_of(kind: type[Category] | type[ScanFlag]) -> Any:
    def parse(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("a mask is an integer or a list of names, not a boolean")
        if isinstance(value, str):
            raise ValueError("a mask is an integer or a list of names, not a string")
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 8.0 is an integer to JSON Schema: its bits are checked like 8's
        if isinstance(value, int | list | tuple):
            if isinstance(value, list | tuple) and not all(isinstance(v, str) for v in value):
                raise ValueError("a list of names must hold strings")
            return parse_mask(kind, value)
        return value

    return parse


def _mask_schema(names: type[Any]) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "integer", "minimum": 0},
            {"type": "array", "items": {"type": "string", "enum": list(names.__args__)}},
        ]
    }


Address = Annotated[
    int,
    BeforeValidator(_address),
    Field(ge=0, le=U64_MAX),
    WithJsonSchema(
        {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^0[xX][0-9a-fA-F]+$"}]}
    ),
]
CategoryMask = Annotated[int, BeforeValidator(_mask_of(Category)), WithJsonSchema(_mask_schema(CategoryName))]
FlagMask = Annotated[int, BeforeValidator(_mask_of(ScanFlag)), WithJsonSchema(_mask_schema(FlagName))]


def _u64_count(value: Any) -> Any:
    """A count of ``pm_scan_arg`` (``max_pages``, ``vec_len``): any ``__u64``, as the kernel takes it.

    The kernel reads every value of a ``__u64`` and none else, so ``-1`` (what C callers write for
    "no limit") is not one over JSON: the message says which number means it.
    """
    if isinstance(value, bool | str):
        raise ValueError("must be an integer")
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 8.0 is an integer to JSON Schema
    if isinstance(value, int) and not 0 <= value <= U64_MAX:
        raise PydanticCustomError(
            "u64_range",
            "must be a u64, 0 to 18446744073709551615; for no limit give 18446744073709551615 "
            "(2^64-1: C's -1 as the kernel reads it)",
        )
    return value


#: ``max_pages``, ``vec_len``: a ``__u64`` of ``pm_scan_arg``. No value is too large: nothing is
#: allocated from it (the service calls the kernel with bounded buffers, kernel-notes 1-2).
U64Count = Annotated[
    int,
    BeforeValidator(_u64_count),
    # exclusiveMaximum 2^64, not maximum 2^64-1: the OpenAPI document's numbers are floats, and
    # 2^64-1 as a float is 2^64; 2^64 itself is one exactly.
    WithJsonSchema({"type": "integer", "minimum": 0, "exclusiveMaximum": U64_MAX + 1}),
]


class ScanRequest(BaseModel):
    """What to scan: ``struct pm_scan_arg`` with conveniences (names or ints, hex or ints)."""

    model_config = ConfigDict(extra="forbid")

    pid: int = Field(gt=0, le=(1 << 31) - 1, description="the target process")
    start: Address | None = Field(
        default=None, description="page-aligned first address; default: the lowest mapped address"
    )
    end: Address | None = Field(
        default=None,
        description="exclusive end, rounded up to a page; default: the highest mapped end "
        "at or below the user address-space limit",
    )
    flags: FlagMask = Field(default=0, description="WP_MATCHING (needs the write scope), CHECK_WPASYNC")
    max_pages: U64Count = Field(
        default=0,
        description="stop after this many matching pages; 0, or any count beyond the range's pages "
        "(2^64-1, C's -1): no limit",
    )
    category_inverted: CategoryMask = 0
    category_mask: CategoryMask = 0
    category_anyof_mask: CategoryMask = 0
    return_mask: CategoryMask | None = Field(
        default=None, description="categories each region reports; default: all the kernel knows"
    )
    vec_len: U64Count | None = Field(
        default=None,
        description="at most this many regions; absent, or any count beyond the answer's regions "
        "(2^64-1, C's -1): no limit; 0: none (the walk still runs)",
    )
    backend: Literal["auto", "ioctl", "pagemap"] = "auto"

    @field_validator("pid", mode="before")
    @classmethod
    def _integer(cls, value: Any) -> Any:
        # JSON numbers only (8.0 is one, to JSON Schema): pydantic reads true as 1 (a pid!), "5" as 5.
        if isinstance(value, bool | str):
            raise ValueError("must be an integer")
        return value

    @field_validator("start")
    @classmethod
    def _start_in_user_space(cls, start: int | None) -> int | None:
        if start is None:
            return None
        kernel = probe()
        if start % kernel.page_size:
            raise ValueError(f"must be aligned to the page size ({kernel.page_size})")
        if start > kernel.user_address_limit:
            # The kernel checks [start, end) with access_ok(): an empty range at the limit passes.
            raise ValueError(f"must not exceed the user address-space limit {kernel.user_address_limit:#x}")
        return start

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: int | None, info: ValidationInfo) -> int | None:
        if end is None:
            return None
        kernel = probe()
        rounded = -(-end // kernel.page_size) * kernel.page_size
        if rounded > kernel.user_address_limit:
            raise ValueError(f"must not exceed the user address-space limit {kernel.user_address_limit:#x}")
        start = info.data.get("start")
        if start is not None and end < start:
            raise ValueError(f"must not be below start ({start:#x})")
        return rounded

    def options(self) -> ScanOptions:
        """The domain's description of this scan (``app.pagemap.open_scan``)."""
        return ScanOptions(
            start=self.start,
            end=self.end,
            flags=self.flags,
            category_inverted=self.category_inverted,
            category_mask=self.category_mask,
            category_anyof_mask=self.category_anyof_mask,
            return_mask=self.return_mask,
            max_pages=self.max_pages,
            vec_len=self.vec_len,
            backend=self.backend,
        )


def _cgroup(value: str) -> str:
    return str(parse_cgroup(value))


#: A cgroup as ``/proc/PID/cgroup`` names it: ``/PATH`` (v2) or ``CONTROLLER:/PATH`` (v1).
CgroupPath = Annotated[
    str,
    Field(
        min_length=1,
        max_length=4096,
        description="a cgroup and its descendants: /PATH in the unified (v2) hierarchy, relative to "
        "its root as in /proc/PID/cgroup (0::/PATH); CONTROLLER:/PATH in a v1 hierarchy "
        "(memory:/x, name=systemd:/x)",
        examples=["/system.slice/nginx.service", "memory:/docker/abc"],
    ),
    AfterValidator(_cgroup),
]


class SummaryRequest(ScanRequest):
    """``/scan``'s body, for one process (``pid``) or every process of a cgroup (``cgroup``)."""

    pid: int | None = Field(  # type: ignore[assignment]
        default=None, gt=0, le=(1 << 31) - 1, description="the target process (or give cgroup)"
    )
    cgroup: CgroupPath | None = Field(default=None, description="every process of this cgroup (or give pid)")
    by_vma: bool = Field(default=False, strict=True, description="also count pages per mapping")

    @model_validator(mode="before")
    @classmethod
    def _pid_or_cgroup(cls, data: Any) -> Any:
        """Exactly one of ``pid`` and ``cgroup``; the error is located at the field to fix."""
        if isinstance(data, dict):
            given = [name for name in ("pid", "cgroup") if data.get(name) is not None]
            if not given:
                error = PydanticCustomError("missing", "pid or cgroup is required (exactly one of them)")
                raise ValidationError.from_exception_data(
                    cls.__name__, [InitErrorDetails(type=error, loc=("pid",), input=data)]
                )
            if len(given) == 2:
                error = PydanticCustomError("pid_or_cgroup", "give pid or cgroup, not both")
                raise ValidationError.from_exception_data(
                    cls.__name__, [InitErrorDetails(type=error, loc=("cgroup",), input=data)]
                )
        return data


class Region(BaseModel):
    """One ``struct page_region``; in the NDJSON stream one line each."""

    start: int
    end: int
    categories: list[CategoryName]


class ScanTrailer(BaseModel):
    """The last NDJSON line of a complete answer."""

    walk_end: int = Field(description="a correct resume point; equals end when nothing is left")
    regions: int
    pages: int


class ErrorDetail(BaseModel):
    code: str = Field(description="an errno name (ESRCH, EACCES, …) or a short upper-case code")
    message: str


class ErrorBody(BaseModel):
    detail: ErrorDetail


class ScanDocument(BaseModel):
    pid: int
    start: int
    end: int
    walk_end: int
    regions: list[Region]
    pages: int


class VmaSummary(BaseModel):
    start: int
    end: int
    perms: str
    path: str
    pages: int
    categories: dict[CategoryName, int]


class SummaryResponse(BaseModel):
    pid: int
    start: int
    end: int
    walk_end: int
    pages: int
    categories: dict[CategoryName, int]
    vmas: list[VmaSummary] | None = None

    @classmethod
    def of(cls, summary: ProcessSummary) -> SummaryResponse:
        vmas = None
        if summary.vmas is not None:
            vmas = [
                VmaSummary(
                    start=m.start, end=m.end, perms=m.perms, path=m.path, pages=c.pages, categories=_named(c)
                )
                for m, c in summary.vmas
            ]
        return cls(
            pid=summary.pid,
            start=summary.start,
            end=summary.end,
            walk_end=summary.walk_end,
            pages=summary.total.pages,
            categories=_named(summary.total),
            vmas=vmas,
        )


class SkippedProcess(BaseModel):
    """A member of the cgroup that was not summarized, and why (it exited, access denied…)."""

    pid: int
    code: str = Field(description="ESRCH, EXITED, EACCES, DENIED, …: as the error body's code")
    reason: str


class CgroupSummaryResponse(BaseModel):
    """``/summary`` of a cgroup: one summary per process, and their sum."""

    cgroup: str
    processes: list[SummaryResponse]
    skipped: list[SkippedProcess]
    pages: int
    categories: dict[CategoryName, int]

    @classmethod
    def of(cls, summary: CgroupSummary) -> CgroupSummaryResponse:
        return cls(
            cgroup=summary.cgroup,
            processes=[SummaryResponse.of(p) for p in summary.processes],
            skipped=[SkippedProcess(pid=s.pid, code=s.code, reason=s.reason) for s in summary.skipped],
            pages=summary.total.pages,
            categories=_named(summary.total),
        )


def _named(counts: Counts) -> dict[Any, int]:
    """Pages per category name, in bit order."""
    return {Category(c).name: n for c, n in sorted(counts.by_category.items())}


class ProcessInfo(BaseModel):
    pid: int
    comm: str
    uid: int
    rss_bytes: int


class MappingInfo(BaseModel):
    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    path: str


class Capabilities(BaseModel):
    kernel_release: str
    page_size: int
    pagemap_scan: bool
    categories: list[CategoryName]
    soft_dirty: bool
    user_address_limit: int
    backends: list[str]
    default_backend: str
    limits: dict[str, int | float]


class WatchRequest(ScanRequest):
    """``/scan``'s body plus a schedule: ``count`` ticks, ``interval_seconds`` apart."""

    interval_seconds: float = Field(
        gt=0, le=86_400, allow_inf_nan=False, description="seconds from one tick to the next"
    )
    count: int = Field(
        ge=1,
        le=MAX_COUNT,
        description="ticks; count x interval_seconds is bounded by the server (PMSCAN_WATCH_MAX_SECONDS)",
    )

    @field_validator("interval_seconds", "count", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool | str):
            raise ValueError("must be a number")
        return value


class WatchTick(BaseModel):
    """One NDJSON line of ``/watch``: the counts ``/summary`` would give at that moment."""

    tick: int = Field(description="0, 1, …: tick i was due at the start + i x interval_seconds")
    time: float = Field(description="when this tick's scan began (UNIX seconds)")
    late: bool = Field(description="the tick's scan was still running when the next tick was due")
    pages: int
    categories: dict[CategoryName, int]


class WatchTrailer(BaseModel):
    """The last NDJSON line of a complete watch."""

    ticks: int
