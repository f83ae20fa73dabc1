"""Prometheus metrics, in a registry of the app's own (several apps never clash).

Names follow Prometheus conventions: the ``pmscan_`` prefix, base units (seconds),
counters ending in ``_total``. Labels never hold a pid, a comm or a raw path: ``route``
is the route's template (``/processes/{pid}/maps``), or ``unmatched``. The ``observe``
middleware feeds :meth:`Metrics.observe_request` and :meth:`Metrics.observe_access`
when a request is over (and after each tick of a watch: the watch service is handed
:meth:`Metrics.observe_access`); the pool gauges are read when scraped.
"""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..pagemap.categories import Category
from ..pagemap.exceptions import PagemapError
from ..pagemap.probe import KernelCapabilities
from ..service.audit import ProcessAccess
from ..service.pool import Busy, ScanPool
from ..service.scans import PayloadTooLarge
from .body import BodyTooLarge

__all__ = ["CONTENT_TYPE", "SCAN_BUCKETS", "Metrics"]

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST
#: Scans last from a millisecond (a small process) to the time limit (300 s by default).
SCAN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
#: Requests refused for a limit, by reason: the pool is full, or the body or answer is too large.
_REJECTIONS: dict[type[BaseException], str] = {
    Busy: "busy",
    PayloadTooLarge: "too_large",
    BodyTooLarge: "too_large",
}
_SCANS = ("scan", "summary")


class Metrics:
    def __init__(self) -> None:
        # The *_created series only repeat each counter's start time: leave them out.
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry = CollectorRegistry()
        self._request_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.http_requests = Counter(
            "pmscan_http_requests", "HTTP requests answered", ["route", "method", "status"], registry=registry
        )
        self.http_duration = Histogram(
            "pmscan_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response body",
            ["route", "method"],
            registry=registry,
        )
        self.scan_duration = Histogram(
            "pmscan_scan_duration_seconds",
            "Time of a scan (scan or summary of one process), to the end of its answer",
            ["backend", "format"],
            buckets=SCAN_BUCKETS,
            registry=registry,
        )
        self.scan_regions = Counter(
            "pmscan_scan_regions", "Page regions produced by scans", registry=registry
        )
        self.scan_pages = Counter("pmscan_scan_pages", "Pages counted by scans", registry=registry)
        self.scan_errors = Counter(
            "pmscan_scan_errors", "Scans that failed, by error code (errno name)", ["code"], registry=registry
        )
        self.rejected = Counter(
            "pmscan_requests_rejected",
            "Requests refused for a limit: busy (every scan worker taken), too_large (body or answer)",
            ["reason"],
            registry=registry,
        )
        self.workers_busy = Gauge("pmscan_scan_workers_busy", "Scan workers in use", registry=registry)
        self.workers = Gauge("pmscan_scan_workers", "Scan workers in the pool", registry=registry)
        self.queue_waiting = Gauge(
            "pmscan_scan_queue_waiting", "Requests waiting for a scan worker", registry=registry
        )
        self.build_info = Gauge(
            "pmscan_build_info",
            "Always 1: the version and the kernel",
            ["version", "kernel_release"],
            registry=registry,
        )
        self.category_supported = Gauge(
            "pmscan_category_supported",
            "1 when the kernel accepts the page category",
            ["category"],
            registry=registry,
        )

    def describe(self, version: str, kernel: KernelCapabilities, pool: ScanPool) -> None:
        """The facts known at startup, and the pool whose gauges are read at each scrape."""
        self.build_info.labels(version=version, kernel_release=kernel.kernel_release).set(1)
        for category in Category:
            supported = bool(kernel.category_mask & category.value)
            self.category_supported.labels(category=category.name).set(int(supported))
        self.workers_busy.set_function(lambda: pool.in_use)
        self.workers.set_function(lambda: pool.size)
        self.queue_waiting.set_function(lambda: pool.waiting)

    def observe_request(
        self, route: str, method: str, status: int, seconds: float, error: BaseException | None
    ) -> None:
        # The labelled series, looked up once: labels() validates and locks on every call. The
        # keys are bounded: route templates, the methods and statuses the server answers with.
        key = (route, method, status)
        series = self._request_series.get(key)
        if series is None:
            series = self._request_series[key] = (
                self.http_requests.labels(route=route, method=method, status=str(status)),
                self.http_duration.labels(route=route, method=method),
            )
        series[0].inc()
        series[1].observe(seconds)
        reason = _REJECTIONS.get(type(error)) if error is not None else None
        if reason is not None:
            self.rejected.labels(reason=reason).inc()

    def observe_access(self, access: ProcessAccess, error: BaseException | None) -> None:
        """A settled access: scans count their duration, regions and pages, and their
        errors from the kernel or the domain (not refusals: those are rejections)."""
        if access.action not in _SCANS:
            return
        if access.backend is not None:  # a scan was opened
            self.scan_duration.labels(backend=access.backend, format=access.format or "").observe(
                access.seconds
            )
            self.scan_regions.inc(access.regions or 0)
            self.scan_pages.inc(access.pages or 0)
        if isinstance(error, PagemapError | OSError) and access.outcome is not None:
            self.scan_errors.labels(code=access.outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
