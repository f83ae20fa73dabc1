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
from ..pagemap.cgroups import (
    CONTAINER_ID_PREFIX,
    ContainerSelector,
    parse_cgroup,
    parse_container_id,
    parse_pod_uid,
)
from ..pagemap.probe import probe
from ..pagemap.processes import ContainerEntry, ProcessEntry
from ..pagemap.session import ScanOptions
from ..pagemap.summary import Counts
from ..service.summaries import CgroupSummary, ProcessSummary, WorkloadSummary

__all__ = [
    "Capabilities",
    "CategoryName",
    "CgroupPath",
    "CgroupSummaryResponse",
    "ContainerId",
    "ContainerInfo",
    "ErrorBody",
    "ErrorDetail",
    "MappingInfo",
    "PodUid",
    "ProcessInfo",
    "Region",
    "Runtime",
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
    "WorkloadSummaryResponse",
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
        "(memory:/x, name=systemd:/x); the host's path, also when pmscan runs in a container",
        examples=["/system.slice/nginx.service", "memory:/docker/abc"],
    ),
    AfterValidator(_cgroup),
]


#: A container, by its runtime's id: the 64 hexadecimal digits, or a prefix of them.
ContainerId = Annotated[
    str,
    Field(
        min_length=CONTAINER_ID_PREFIX,
        max_length=64,
        pattern="^[0-9a-f]+$",
        description=f"a container id: its 64 lowercase hexadecimal digits, or a prefix of at least "
        f"{CONTAINER_ID_PREFIX} that names one container of this node (as docker ps shows them)",
        examples=["4f2d9c0b7a1e"],
    ),
    AfterValidator(parse_container_id),
]
#: A Kubernetes pod, by its UID.
PodUid = Annotated[
    str,
    Field(
        min_length=32,
        max_length=36,
        pattern="^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$",
        description="a pod's UID, as the API server spells it (metadata.uid): a lowercase UUID, or "
        "the 32 hexadecimal digits of a static pod's",
        examples=["8e6c0f0a-3b1f-4b5e-9a44-2c1e9b0f6d11"],
    ),
    AfterValidator(parse_pod_uid),
]
#: The container runtimes a cgroup path names.
Runtime = Literal["containerd", "cri-o", "docker", "podman"]

#: What a request may name as its target, in the order a conflict is reported in.
_TARGETS = ("pid", "cgroup", "container_id", "pod_uid")


def _exactly_one(model: str, data: Any, names: tuple[str, ...]) -> None:
    """Exactly one of ``names`` given (not null) in ``data``: else a validation error located at
    ``pid`` (none given) or at the second one given (the field to drop)."""
    if not isinstance(data, dict):
        return
    given = [name for name in names if data.get(name) is not None]
    listed = ", ".join(names[:-1]) + f" or {names[-1]}"
    if not given:
        error = PydanticCustomError("missing", f"{listed} is required (exactly one of them)")
        raise ValidationError.from_exception_data(
            model, [InitErrorDetails(type=error, loc=("pid",), input=data)]
        )
    if len(given) > 1:
        error = PydanticCustomError("one_target", f"give one of {listed}, not {' and '.join(given)}")
        raise ValidationError.from_exception_data(
            model, [InitErrorDetails(type=error, loc=(given[1],), input=data)]
        )


class SummaryRequest(ScanRequest):
    """``/scan``'s body, for one process (``pid``), or every process of a cgroup (``cgroup``), of
    a container (``container_id``) or of a pod's containers (``pod_uid``)."""

    pid: int | None = Field(  # type: ignore[assignment]
        default=None,
        gt=0,
        le=(1 << 31) - 1,
        description="the target process (or give cgroup, container_id or pod_uid)",
    )
    cgroup: CgroupPath | None = Field(default=None, description="every process of this cgroup (or give pid)")
    container_id: ContainerId | None = Field(
        default=None, description="every process of this container (or give pid, cgroup or pod_uid)"
    )
    pod_uid: PodUid | None = Field(
        default=None,
        description="every process of every container of this pod (or give pid, cgroup or container_id)",
    )
    by_vma: bool = Field(default=False, strict=True, description="also count pages per mapping")

    @model_validator(mode="before")
    @classmethod
    def _one_target(cls, data: Any) -> Any:
        """Exactly one of ``pid``, ``cgroup``, ``container_id`` and ``pod_uid``; the error is
        located at the field to fix."""
        _exactly_one(cls.__name__, data, _TARGETS)
        return data

    def target(self) -> int | str | ContainerSelector:
        """What to summarize: a pid, a cgroup, or the containers of a workload."""
        if self.cgroup is not None:
            return self.cgroup
        if self.container_id is not None or self.pod_uid is not None:
            return ContainerSelector(container_id=self.container_id, pod_uid=self.pod_uid)
        assert self.pid is not None  # _one_target
        return self.pid


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


class ContainerInfo(BaseModel):
    """A container that has processes on this node, recognized from their cgroup path."""

    container_id: str = Field(description="the runtime's id: 64 hexadecimal digits")
    runtime: Literal["containerd", "cri-o", "docker", "podman", ""] = Field(
        description='as the cgroup path names it; "" where it does not (the cgroupfs driver)'
    )
    pod_uid: str = Field(description='the Kubernetes pod\'s UID; "" outside Kubernetes')
    qos: Literal["guaranteed", "burstable", "besteffort", ""] = Field(
        description='the pod\'s QoS class; "" outside Kubernetes'
    )
    cgroup: str = Field(
        description="the container's cgroup, as /summary's cgroup takes it (the host's path, also when "
        "pmscan runs in a container)"
    )
    pids: list[int] = Field(description="its processes, by pid")

    @classmethod
    def of(cls, entry: ContainerEntry) -> ContainerInfo:
        container = entry.container
        return cls(
            container_id=container.container_id,
            runtime=container.runtime,  # type: ignore[arg-type]
            pod_uid=container.pod_uid,
            qos=container.qos,  # type: ignore[arg-type]
            cgroup=str(entry.cgroup),
            pids=list(entry.pids),
        )


class WorkloadSummaryResponse(BaseModel):
    """``/summary`` of a container or a pod: one summary per process its containers had at that
    moment, and their sum."""

    container_id: str | None = Field(
        default=None, description="the container asked for, by its full id (absent when a pod was)"
    )
    pod_uid: str | None = Field(default=None, description="the pod asked for (absent when a container was)")
    containers: list[ContainerInfo] = Field(description="the containers counted, with their processes then")
    processes: list[SummaryResponse]
    skipped: list[SkippedProcess]
    pages: int
    categories: dict[CategoryName, int]

    @classmethod
    def of(cls, summary: WorkloadSummary) -> WorkloadSummaryResponse:
        selector, containers = summary.selector, summary.containers
        return cls(
            container_id=containers[0].container.container_id if selector.container_id is not None else None,
            pod_uid=selector.pod_uid,
            containers=[ContainerInfo.of(c) for c in containers],
            processes=[SummaryResponse.of(p) for p in summary.processes],
            skipped=[SkippedProcess(pid=s.pid, code=s.code, reason=s.reason) for s in summary.skipped],
            pages=summary.total.pages,
            categories=_named(summary.total),
        )


class ProcessInfo(BaseModel):
    pid: int
    comm: str
    uid: int
    rss_bytes: int
    # Always sent; not required of an answer, so that clients read older servers' too.
    container_id: str | None = Field(
        default=None, description="the container it is in; null outside a container"
    )
    pod_uid: str | None = Field(
        default=None,
        description="the Kubernetes pod of its container; null outside a container, "
        '"" in a container outside Kubernetes',
    )

    @classmethod
    def of(cls, entry: ProcessEntry) -> ProcessInfo:
        container = entry.container
        return cls(
            pid=entry.pid,
            comm=entry.comm,
            uid=entry.uid,
            rss_bytes=entry.rss_bytes,
            container_id=container.container_id if container is not None else None,
            pod_uid=container.pod_uid if container is not None else None,
        )


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
    """``/scan``'s body plus a schedule: ``count`` ticks, ``interval_seconds`` apart; of one
    process (``pid``), of a container (``container_id``) or of a pod's containers (``pod_uid``)."""

    pid: int | None = Field(  # type: ignore[assignment]
        default=None,
        gt=0,
        le=(1 << 31) - 1,
        description="the target process (or give container_id or pod_uid)",
    )
    container_id: ContainerId | None = Field(
        default=None, description="every process of this container, at each tick (or give pid or pod_uid)"
    )
    pod_uid: PodUid | None = Field(
        default=None,
        description="every process of every container of this pod, at each tick (or give pid or "
        "container_id)",
    )

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

    @model_validator(mode="before")
    @classmethod
    def _one_target(cls, data: Any) -> Any:
        """Exactly one of ``pid``, ``container_id`` and ``pod_uid``."""
        _exactly_one(cls.__name__, data, ("pid", "container_id", "pod_uid"))
        return data

    def workload(self) -> ContainerSelector | None:
        """The containers to watch, or None for a process."""
        if self.container_id is None and self.pod_uid is None:
            return None
        return ContainerSelector(container_id=self.container_id, pod_uid=self.pod_uid)


class WatchTick(BaseModel):
    """One NDJSON line of ``/watch``: the counts ``/summary`` would give at that moment."""

    tick: int = Field(description="0, 1, …: tick i was due at the start + i x interval_seconds")
    time: float = Field(description="when this tick's scan began (UNIX seconds)")
    late: bool = Field(description="the tick's scan was still running when the next tick was due")
    processes: int | None = Field(
        default=None, description="a workload's tick: the processes it counted (those the workload had then)"
    )
    skipped: int | None = Field(
        default=None,
        description="a workload's tick: the processes it left out (exited meanwhile, or refused)",
    )
    pages: int
    categories: dict[CategoryName, int]


class WatchTrailer(BaseModel):
    """The last NDJSON line of a complete watch."""

    ticks: int
