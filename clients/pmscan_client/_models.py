"""What the facade returns: regions, page counts keyed by :class:`Category`, processes,
containers, mappings and capabilities — plain classes of this package, never the generated models (those
change with the generator; these are the SDK's promise). Each has ``to_dict()`` for JSON.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Self

from ._categories import Category
from ._generated import models as generated
from ._generated.models import SummaryResponse, WorkloadSummaryResponse
from ._generated.models import VmaSummary as GeneratedVmaSummary
from ._generated.types import Unset

__all__ = [
    "CATEGORY",
    "Capabilities",
    "ContainerInfo",
    "MappingInfo",
    "PageRegion",
    "ProcessInfo",
    "SkippedProcess",
    "Summary",
    "VmaSummary",
    "WorkloadSummary",
    "category_counts",
]


class _Categories(dict[int, Category]):
    """``Category`` of a bitmask: built once per value (IntFlag construction is slow)."""

    def __missing__(self, value: int) -> Category:
        category = self[value] = Category(value)
        return category


#: ``Category`` by bitmask value.
CATEGORY = _Categories((v, Category(v)) for v in range(1 << 9))


class PageRegion(tuple[int, int, int]):
    """Pages ``[start, end)`` (bytes, page-aligned) that share ``categories``.

    A tuple ``(start, end, categories)`` like the kernel's ``struct page_region``: unpacked, the
    third item is the bitmask as a plain ``int``; the ``categories`` attribute is the
    :class:`Category`. (Made straight from the records, without converting each bitmask: the
    SDK reads a region for a fraction of a microsecond.)
    """

    __slots__ = ()

    def __new__(cls, start: int, end: int, categories: int) -> Self:
        return tuple.__new__(cls, (start, end, categories))

    if TYPE_CHECKING:

        @property
        def start(self) -> int: ...
        @property
        def end(self) -> int: ...
    else:
        start = property(itemgetter(0), doc="The first address of the region (bytes).")
        end = property(itemgetter(1), doc="The exclusive end of the region (bytes).")

    @property
    def categories(self) -> Category:
        """What the pages are (only the categories the scan's ``return_mask`` asked for)."""
        return CATEGORY[self[2]]

    def pages(self, page_size: int) -> int:
        return (self[1] - self[0]) // page_size

    def __repr__(self) -> str:
        return f"PageRegion(start={self[0]:#x}, end={self[1]:#x}, categories={self.categories!r})"

    def __getnewargs__(self) -> tuple[int, int, int]:
        return (self[0], self[1], self[2])


def category_counts(named: Mapping[str, int]) -> dict[Category, int]:
    """``{"PRESENT": n, …}`` as ``{Category.PRESENT: n, …}`` in bit order."""
    return dict(
        sorted(((Category[name], count) for name, count in named.items()), key=lambda kv: kv[0].value)
    )


@dataclass(frozen=True)
class VmaSummary:
    """Page counts of one mapping ``[start, end)`` that has matching pages."""

    start: int
    end: int
    perms: str
    path: str
    pages: int
    categories: dict[Category, int]

    @classmethod
    def from_generated(cls, vma: GeneratedVmaSummary) -> VmaSummary:
        return cls(
            vma.start,
            vma.end,
            vma.perms,
            vma.path,
            vma.pages,
            category_counts(vma.categories.additional_properties),
        )


@dataclass(frozen=True)
class Summary:
    """``POST /summary``: how many matching pages, and how many of them in each category.

    ``[start, end)`` is the range the server resolved; ``walk_end`` where the walk stopped
    (``end`` unless ``max_pages`` cut it short); ``vmas`` only when asked ``by_vma``.
    """

    pid: int
    start: int
    end: int
    walk_end: int
    pages: int
    categories: dict[Category, int]
    vmas: list[VmaSummary] | None = None

    @classmethod
    def from_generated(cls, response: object) -> Summary:
        if not isinstance(response, SummaryResponse):
            raise TypeError(f"expected a SummaryResponse, got {type(response).__name__}")
        vmas = None
        if not isinstance(response.vmas, Unset) and response.vmas is not None:
            vmas = [VmaSummary.from_generated(v) for v in response.vmas]
        return cls(
            pid=response.pid,
            start=response.start,
            end=response.end,
            walk_end=response.walk_end,
            pages=response.pages,
            categories=category_counts(response.categories.additional_properties),
            vmas=vmas,
        )


class _Plain:
    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON values (``Category`` values by name)."""
        document = dataclasses.asdict(self)  # type: ignore[call-overload]
        return {key: _json(value) for key, value in document.items()}


def _json(value: Any) -> Any:
    if isinstance(value, Category):
        return value.name
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {(k.name if isinstance(k, Category) else k): _json(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class ProcessInfo(_Plain):
    """A user process of the node: ``rss_bytes`` as ``/proc/PID/statm`` reports it;
    ``container_id`` and ``pod_uid`` of the container it is in (None outside a container;
    ``pod_uid`` is ``""`` in a container outside Kubernetes)."""

    pid: int
    comm: str
    uid: int
    rss_bytes: int
    container_id: str | None = None
    pod_uid: str | None = None

    @classmethod
    def from_generated(cls, info: generated.ProcessInfo) -> ProcessInfo:
        return cls(
            pid=info.pid,
            comm=info.comm,
            uid=info.uid,
            rss_bytes=info.rss_bytes,
            container_id=None if isinstance(info.container_id, Unset) else info.container_id,
            pod_uid=None if isinstance(info.pod_uid, Unset) else info.pod_uid,
        )


@dataclass(frozen=True)
class ContainerInfo(_Plain):
    """A container that has processes on the node, recognized from their cgroup path:
    ``container_id`` (64 hexadecimal digits); ``runtime`` (``containerd``, ``cri-o``,
    ``docker``, ``podman``, ``""`` where the path does not say); ``pod_uid`` and ``qos``
    (``guaranteed``, ``burstable``, ``besteffort``; ``""`` outside Kubernetes); ``cgroup``, the
    container's cgroup as a cgroup summary takes it; ``pids``, its processes then."""

    container_id: str
    runtime: str
    pod_uid: str
    qos: str
    cgroup: str
    pids: list[int]

    @classmethod
    def from_generated(cls, info: generated.ContainerInfo) -> ContainerInfo:
        return cls(
            container_id=info.container_id,
            runtime=str(info.runtime),
            pod_uid=info.pod_uid,
            qos=str(info.qos),
            cgroup=info.cgroup,
            pids=list(info.pids),
        )


@dataclass(frozen=True)
class SkippedProcess(_Plain):
    """A process of a workload left out of its summary: the error's ``code`` (``EXITED``,
    ``EACCES``, ``DENIED``, …) and the ``reason``."""

    pid: int
    code: str
    reason: str


@dataclass(frozen=True)
class WorkloadSummary(_Plain):
    """``POST /summary`` of a container (``container_id``, its full id) or of a pod's containers
    (``pod_uid``): the :class:`Summary` of each process they had at that moment, those
    ``skipped``, the ``containers`` counted (with their processes then), and the sums."""

    container_id: str | None
    pod_uid: str | None
    containers: list[ContainerInfo]
    processes: list[Summary]
    skipped: list[SkippedProcess]
    pages: int
    categories: dict[Category, int]

    @classmethod
    def from_generated(cls, response: object) -> WorkloadSummary:
        if not isinstance(response, WorkloadSummaryResponse):
            raise TypeError(f"expected a WorkloadSummaryResponse, got {type(response).__name__}")
        return cls(
            container_id=None if isinstance(response.container_id, Unset) else response.container_id,
            pod_uid=None if isinstance(response.pod_uid, Unset) else response.pod_uid,
            containers=[ContainerInfo.from_generated(c) for c in response.containers],
            processes=[Summary.from_generated(p) for p in response.processes],
            skipped=[SkippedProcess(s.pid, s.code, s.reason) for s in response.skipped],
            pages=response.pages,
            categories=category_counts(response.categories.additional_properties),
        )


@dataclass(frozen=True)
class MappingInfo(_Plain):
    """One line of ``/proc/PID/maps``: ``[start, end)`` in bytes."""

    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    path: str

    @classmethod
    def from_generated(cls, mapping: generated.MappingInfo) -> MappingInfo:
        return cls(
            start=mapping.start,
            end=mapping.end,
            perms=mapping.perms,
            offset=mapping.offset,
            dev=mapping.dev,
            inode=mapping.inode,
            path=mapping.path,
        )


@dataclass(frozen=True)
class Capabilities(_Plain):
    """What the node's kernel and service can do: ``categories`` the kernel accepts (probed),
    ``soft_dirty`` whether soft-dirty tracking works, the backends and the service's limits."""

    kernel_release: str
    page_size: int
    pagemap_scan: bool
    categories: list[Category]
    soft_dirty: bool
    user_address_limit: int
    backends: list[str]
    default_backend: str
    limits: dict[str, int | float]

    @classmethod
    def from_generated(cls, capabilities: generated.Capabilities) -> Capabilities:
        return cls(
            kernel_release=capabilities.kernel_release,
            page_size=capabilities.page_size,
            pagemap_scan=capabilities.pagemap_scan,
            categories=[Category[c.value] for c in capabilities.categories],
            soft_dirty=capabilities.soft_dirty,
            user_address_limit=capabilities.user_address_limit,
            backends=list(capabilities.backends),
            default_backend=capabilities.default_backend,
            limits=dict(capabilities.limits.additional_properties),
        )
