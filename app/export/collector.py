"""Page states of process groups and containers, as Prometheus series on ``GET /metrics``.

One collector object, registered once in the app's registry; its :meth:`collect` only turns the
last collection into metric families. A collection (:meth:`PageStateExporter.refresh`, awaited by
the route before the registry renders) finds the processes of the configured groups (and, with
``PMSCAN_EXPORT_CONTAINERS``, of containers) and counts each one's pages in the scan pool, in
jobs of up to :data:`SLICE_SECONDS` each, at most ``PMSCAN_EXPORT_CONCURRENCY`` at once and each
under a pool slot like any request, so scrapes never take the pool from ``/scan``. A collection
never outlasts its budget: what it could not count shows in ``pmscan_export_incomplete`` and
``pmscan_export_errors_total{reason}``. Values younger than ``PMSCAN_EXPORT_MAX_AGE_SECONDS``
are served again without a scan, and concurrent scrapes share one collection.

The first collection that counts a process opens its ``pagemap`` and ``statm`` through the pidfd
protocol and keeps them open for the next ones (:class:`~.counter.ProcessCounter`):
a kept process costs its kernel calls and little more, and a kept file can never reach another
process (kernel-notes 22). Those a collection no longer lists are closed at its end. The program
(``exe``) of a kept process is read once, when its files are opened: it matches the groups with
it until its kept pagemap says the process exited or runs a new program, and is then matched
again, afresh.

Reasons a process is missing from the counts: ``timeout`` (the budget ran out first), ``busy``
(no scan worker came free in time), ``denied`` (the kernel refused pmscan), ``error`` (any other
failure). A process that exits meanwhile is no error: it simply is no longer there. Processes
pmscan never scans (itself, ``PMSCAN_DENY_PIDS``, kernel threads) are left out.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import resource
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from ..pagemap.categories import Category
from ..pagemap.cgroups import Container
from ..pagemap.exceptions import (
    AccessDenied,
    Denied,
    PagemapError,
    ProcessGone,
    ProcessNotFound,
    ScanTimeout,
)
from ..pagemap.policy import Authorize
from ..pagemap.summary import Counts
from ..service.pool import Busy, ScanPool
from .counter import ProcessChanged, ProcessCounter
from .groups import ProcessGroup
from .members import Member, find_members, match_process

__all__ = ["REASONS", "ExportConfig", "PageStateExporter"]

log = logging.getLogger("pmscan")

#: Why a process is missing from a collection's counts (the ``reason`` label).
REASONS = ("timeout", "busy", "denied", "error")
#: How long one pool job of a collection counts processes, at most, before it gives its worker
#: back (a collection goes on in further jobs): long enough that the hand-offs between the event
#: loop and a scan thread (0.1-0.2 ms each) weigh nothing (a few hundred kept processes take one
#: job), short enough that a request waiting for a worker does not wait long for a collection.
SLICE_SECONDS = 0.05
#: Descriptors left for everything but the files the exporter keeps open (connections, scans).
RESERVED_DESCRIPTORS = 1024
_CONTAINER_LABELS = ["container_id", "runtime", "pod_uid", "qos"]


@dataclass(frozen=True)
class ExportConfig:
    """What the exporter counts, and within which limits (``PMSCAN_EXPORT_*``: ``app.settings``
    documents each)."""

    groups: tuple[ProcessGroup, ...]
    categories: Category
    containers: bool
    containers_max: int
    max_age_seconds: float
    budget_seconds: float
    concurrency: int
    span_bytes: int
    #: Processes never counted besides pmscan itself (``PMSCAN_DENY_PIDS``).
    deny_pids: frozenset[int] = frozenset()


@dataclass
class Tally:
    """The sum over some processes: how many, their pages, their pages per category."""

    processes: int = 0
    pages: int = 0
    by_category: dict[Category, int] = field(default_factory=dict)

    def add(self, counts: Counts) -> None:
        self.processes += 1
        self.pages += counts.pages
        for category, pages in counts.by_category.items():
            self.by_category[category] = self.by_category.get(category, 0) + pages


@dataclass
class Collection:
    """What one collection found."""

    finished_at: float  # time.time()
    finished_monotonic: float
    seconds: float
    incomplete: bool
    groups: dict[str, Tally]
    containers: dict[Container, Tally]
    containers_dropped: int


class PageStateExporter(Collector):
    """The page-state series of ``config`` (groups, categories, containers, limits), counted in
    ``pool`` as ``authorize`` allows."""

    def __init__(self, config: ExportConfig, *, pool: ScanPool, page_size: int, authorize: Authorize) -> None:
        self.groups: tuple[ProcessGroup, ...] = config.groups
        self.categories = config.categories
        self.containers = config.containers
        self.containers_max = config.containers_max
        self.max_age = config.max_age_seconds
        self.budget = config.budget_seconds
        self.concurrency = min(config.concurrency, pool.size)
        self.span_pages = max(1, config.span_bytes // page_size)
        self.page_size = page_size
        self.counter = ProcessCounter(
            categories=self.categories,
            page_size=page_size,
            span_pages=self.span_pages,
            keep=_descriptors_to_keep() if self.groups or self.containers else 0,
            remember_exe=any(group.key == "exe" for group in self.groups),
        )
        self.exclude = frozenset({os.getpid(), *config.deny_pids})
        self._pool = pool
        self._authorize = authorize
        self._last: Collection | None = None
        self._running: asyncio.Future[None] | None = None
        self.collections = 0
        self.errors = dict.fromkeys(REASONS, 0)

    @property
    def enabled(self) -> bool:
        return bool(self.groups) or self.containers

    async def refresh(self) -> None:
        """Make the values current: collect unless the last collection is young enough; join
        the collection under way if there is one. Returns within the budget (plus the time to
        hand work to threads); cancelling the caller does not cancel a shared collection."""
        if not self.enabled:
            return
        last = self._last
        if (
            last is not None
            and self.max_age > 0
            and time.monotonic() - last.finished_monotonic <= self.max_age
        ):
            return
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._collect())
        await asyncio.shield(self._running)

    def close(self) -> None:
        """Close the files kept open between collections."""
        self.counter.close()

    async def _collect(self) -> None:
        self.counter.begin()
        started = time.monotonic()
        deadline = started + self.budget
        groups = {group.name: Tally() for group in self.groups}
        containers: dict[Container, Tally] = {}
        work = _Work()
        incomplete = False
        try:
            async with asyncio.timeout(self.budget):
                # The members are found first (a plain thread: listing /proc touches no process's
                # memory), then counted. Listing while the workers count makes both slower, the
                # threads handing the GIL to each other.
                work.members = await asyncio.to_thread(
                    find_members,
                    self.groups,
                    containers=self.containers,
                    exclude=self.exclude,
                    known_exe=self.counter.exe,
                )
                work.left.extend(work.members)
                workers = [
                    self._count_members(work, deadline, groups, containers) for _ in range(self.concurrency)
                ]
                incomplete = any(await asyncio.gather(*workers))
                if work.left:  # every worker stopped for want of a slot
                    self.errors["busy"] += len(work.left)
                    incomplete = True
        except TimeoutError:
            incomplete = True
            # those neither counted nor refused: not taken yet, or in a job still running
            self.errors["timeout"] += len(work.members) - work.done
        except Exception:  # a collection must not take /metrics down with it
            log.exception("a page-state collection failed")
            incomplete = True
            self.errors["error"] += 1
        self.counter.forget_others()
        kept, dropped = self._cap(containers)
        finished = time.monotonic()
        self.collections += 1
        self._last = Collection(
            finished_at=time.time(),
            finished_monotonic=finished,
            seconds=finished - started,
            incomplete=incomplete,
            groups=groups,
            containers=kept,
            containers_dropped=dropped,
        )

    async def _count_members(
        self, work: _Work, deadline: float, groups: dict[str, Tally], containers: dict[Container, Tally]
    ) -> bool:
        """Count the members of ``work`` in pool jobs (:meth:`_count_slice`) until none is left
        or no slot comes free; whether any was missed for lack of time."""
        missed = False
        while work.left:
            try:
                outcomes = await self._pool.run_leased(functools.partial(self._count_slice, work, deadline))
            except Busy:
                return missed  # another worker may take the rest; what is left is busy
            work.done += len(outcomes)
            for member, outcome in outcomes:
                if isinstance(outcome, Counts):
                    if member.group is not None:
                        groups[member.group].add(outcome)
                    if member.container is not None:
                        containers.setdefault(member.container, Tally()).add(outcome)
                    continue
                reason = _reason(outcome)
                if reason is not None:
                    self.errors[reason] += 1
                    missed = missed or reason == "timeout"
        return missed

    def _count_slice(self, work: _Work, deadline: float) -> list[tuple[Member, Counts | Exception]]:
        """Count members taken from ``work`` for up to :data:`SLICE_SECONDS` (at least one), in
        a scan worker: each with its counts, or what kept it from being counted."""
        outcomes: list[tuple[Member, Counts | Exception]] = []
        ends = time.monotonic() + SLICE_SECONDS
        while not outcomes or time.monotonic() < ends:
            try:
                member = work.left.popleft()  # atomic: the other workers take from it too
            except IndexError:
                break
            outcomes.append(self._count_one(member, deadline))
        return outcomes

    def _count_one(self, member: Member, deadline: float) -> tuple[Member, Counts | Exception]:
        """The counts of ``member`` (in a scan worker), or what kept it from being counted; with
        the member as it turned out to be, if it had to be matched again."""
        try:
            if time.monotonic() > deadline:
                raise ScanTimeout("the collection's budget ran out")
            try:
                counts = self.counter.count(
                    member.pid, deadline=deadline, authorize=self._authorize, reopen=not member.remembered
                )
            except ProcessChanged:
                # matched on the program of a process that is no longer there: match anew
                fresh = match_process(member.pid, self.groups, containers=self.containers)
                if fresh is None:  # gone, or now in no group: not counted, and no error
                    raise ProcessGone(f"process {member.pid} exited or left its group") from None
                member = fresh
                counts = self.counter.count(member.pid, deadline=deadline, authorize=self._authorize)
        except Exception as exc:
            return member, exc
        return member, counts

    def _cap(self, containers: dict[Container, Tally]) -> tuple[dict[Container, Tally], int]:
        """At most ``containers_max`` containers, the same ones from one scrape to the next while
        the node's containers stay (by pod, then container id)."""
        ordered = sorted(containers, key=lambda c: (c.pod_uid, c.container_id))
        kept = ordered[: self.containers_max]
        return {c: containers[c] for c in kept}, len(ordered) - len(kept)

    # -- the registry's side -----------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        if not self.enabled:
            return
        last = self._last
        yield from self._own_series(last)
        if last is None:
            return
        names = [(c, (c.name or "").lower()) for c in Category if c & self.categories]
        if self.groups:
            processes = GaugeMetricFamily(
                "pmscan_group_processes", "Processes of the group that pmscan counted", labels=["group"]
            )
            mapped = GaugeMetricFamily(
                "pmscan_group_mapped_bytes",
                "Sum of the sizes of the group's mappings below the user address limit",
                labels=["group"],
            )
            memory = GaugeMetricFamily(
                "pmscan_group_memory_bytes",
                "Pages of the group having the category, times the page size (categories overlap: "
                "never sum over category)",
                labels=["group", "category"],
            )
            for name, tally in last.groups.items():
                processes.add_metric([name], tally.processes)
                mapped.add_metric([name], tally.pages * self.page_size)
                for category, label in names:
                    memory.add_metric([name, label], tally.by_category.get(category, 0) * self.page_size)
            yield from (processes, mapped, memory)
        if self.containers:
            yield from self._container_series(last, names)

    def _container_series(self, last: Collection, names: list[tuple[Category, str]]) -> Iterator[Metric]:
        processes = GaugeMetricFamily(
            "pmscan_container_processes",
            "Processes of the container that pmscan counted",
            labels=_CONTAINER_LABELS,
        )
        mapped = GaugeMetricFamily(
            "pmscan_container_mapped_bytes",
            "Sum of the sizes of the container's mappings below the user address limit",
            labels=_CONTAINER_LABELS,
        )
        memory = GaugeMetricFamily(
            "pmscan_container_memory_bytes",
            "Pages of the container having the category, times the page size (never sum over category)",
            labels=[*_CONTAINER_LABELS, "category"],
        )
        for container, tally in last.containers.items():
            labels = list(container)
            processes.add_metric(labels, tally.processes)
            mapped.add_metric(labels, tally.pages * self.page_size)
            for category, label in names:
                memory.add_metric([*labels, label], tally.by_category.get(category, 0) * self.page_size)
        dropped = GaugeMetricFamily(
            "pmscan_export_containers_dropped",
            "Containers left out of the last collection's series by PMSCAN_EXPORT_CONTAINERS_MAX",
            value=last.containers_dropped,
        )
        yield from (processes, mapped, memory, dropped)

    def _own_series(self, last: Collection | None) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "pmscan_export_collections", "Page-state collections run", value=self.collections
        )
        errors = CounterMetricFamily(
            "pmscan_export_errors",
            "Processes missing from a collection's counts, by reason: timeout (the budget ran out), "
            "busy (no scan worker in time), denied (by the kernel), error",
            labels=["reason"],
        )
        for reason, count in self.errors.items():
            errors.add_metric([reason], count)
        yield errors
        if last is None:
            return
        yield GaugeMetricFamily(
            "pmscan_export_incomplete",
            "1 when the last collection missed processes for lack of time or workers",
            value=int(last.incomplete),
        )
        yield GaugeMetricFamily(
            "pmscan_export_collection_duration_seconds", "Time the last collection took", value=last.seconds
        )
        yield GaugeMetricFamily(
            "pmscan_export_collection_timestamp_seconds",
            "When the last collection ended (Unix time): the age of the values",
            value=last.finished_at,
        )
        yield GaugeMetricFamily(
            "pmscan_export_kept_processes",
            "Processes whose pagemap and statm pmscan keeps open for the next collection "
            "(two file descriptors each)",
            value=self.counter.kept,
        )


@dataclass
class _Work:
    """The members of one collection: those no job has taken yet (its jobs take them from any
    scan thread), and how many outcomes are in."""

    members: list[Member] = field(default_factory=list)
    left: deque[Member] = field(default_factory=deque)
    done: int = 0


def _reason(error: Exception) -> str | None:
    """The ``reason`` label of what kept a process from being counted; None: it is simply not
    there any more (it exited, or is a reused pid on the deny list)."""
    if isinstance(error, ProcessGone | ProcessNotFound | Denied):
        return None
    if isinstance(error, ScanTimeout):
        return "timeout"
    if isinstance(error, AccessDenied):
        return "denied"
    if not isinstance(error, PagemapError | OSError):
        log.error("counting a process failed", exc_info=error)
    return "error"


def _descriptors_to_keep() -> int:
    """How many processes' files (two descriptors each) the exporter may keep open between
    collections: what the open-file limit leaves beyond :data:`RESERVED_DESCRIPTORS`
    (``pmscan-server`` raises its soft limit to the hard one at start-up)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(0, (soft - RESERVED_DESCRIPTORS) // 2)
