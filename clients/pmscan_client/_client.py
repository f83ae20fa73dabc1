"""``Client`` and ``AsyncClient``: one pmscan node, its answers as domain objects.

Scans stream over ``httpx`` directly (:mod:`._scan`); every other call goes through the
generated functions. Error statuses become exceptions in one ``httpx`` response hook, before
any generated parser sees the response; ``Busy`` answers are retried by :class:`RetryPolicy`.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack, overload

import httpx

from ._connection import DEFAULT_URL, Connection
from ._errors import Busy, ServerError, error_for_response, translate_transport_errors
from ._generated import AuthenticatedClient
from ._generated.api.containers import list_containers
from ._generated.api.processes import clear_soft_dirty, get_maps, list_processes
from ._generated.api.scan import summary as summary_operation
from ._generated.api.service import get_capabilities
from ._generated.models import SummaryRequest
from ._generated.types import Response
from ._models import Capabilities, ContainerInfo, MappingInfo, ProcessInfo, Summary, WorkloadSummary
from ._regions import RegionArray
from ._retry import RetryPolicy
from ._scan import (
    BINARY,
    AsyncScanStream,
    ScanOptions,
    ScanQuery,
    ScanStream,
    Selection,
    aread_records,
    read_records,
    scan_fields,
)
from ._watch_wire import NDJSON, WatchTick, incomplete, parse_line, watch_body, watch_timeout

__all__ = ["AsyncClient", "Client"]

T = TypeVar("T")


def _raise_for_status(response: httpx.Response) -> None:
    if response.is_error:
        response.read()
        raise error_for_response(response)


async def _araise_for_status(response: httpx.Response) -> None:
    if response.is_error:
        await response.aread()
        raise error_for_response(response)


@contextmanager
def _parsing() -> Iterator[None]:
    """A successful answer the generated models cannot read is the server's fault."""
    try:
        yield
    except (KeyError, TypeError, ValueError) as err:
        raise ServerError(f"the answer does not match the API: {err!r}") from err


def _target(pid: int | None, container_id: str | None, pod_uid: str | None) -> dict[str, Any]:
    """The body's target: exactly one of ``pid``, ``container_id`` and ``pod_uid`` (else
    ``TypeError``)."""
    given = {
        name: value
        for name, value in (("pid", pid), ("container_id", container_id), ("pod_uid", pod_uid))
        if value is not None
    }
    if len(given) != 1:
        raise TypeError("give exactly one of pid, container_id and pod_uid")
    return given


def _summary_body(target: dict[str, Any], by_vma: bool, selection: dict[str, Any]) -> SummaryRequest:
    return SummaryRequest.from_dict({**target, "by_vma": by_vma, **scan_fields(**selection)})


def _summary_of(target: dict[str, Any], parsed: Any) -> Summary | WorkloadSummary:
    if "pid" in target:
        return Summary.from_generated(parsed)
    return WorkloadSummary.from_generated(parsed)


def _parsed(response: Response[Any]) -> Any:
    """The model a generated function parsed (error statuses raised in the response hook)."""
    if response.parsed is None and response.status_code != 204:
        raise ServerError(f"unexpected answer: HTTP {response.status_code}", status=response.status_code)
    return response.parsed


class _BaseClient:
    """What both clients share: the options, the httpx hooks, the scan queries."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        uds: str | None = None,
        token: str | None = None,
        verify: bool | str | ssl.SSLContext = True,
        cert: str | tuple[str, str] | None = None,
        server_name: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        connection: Connection | None = None,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Talk to the node at ``url`` (or over the Unix socket ``uds``); see :class:`Connection`
        for the options. ``connection`` replaces them all; ``transport`` replaces the network
        (``httpx.MockTransport`` in tests). ``retry``: how ``Busy`` answers are retried."""
        self.connection = connection or Connection(
            url=url, uds=uds, token=token, verify=verify, cert=cert, server_name=server_name, timeout=timeout
        )
        self.retry = retry or RetryPolicy()
        self._transport = transport
        self._kernel: tuple[int, int] | None = None
        self._open()

    def _open(self) -> None:
        """Create the httpx client (sync or async)."""
        raise NotImplementedError

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """A client for ``PMSCAN_URL`` / ``PMSCAN_UDS`` with ``PMSCAN_TOKEN``; keyword arguments
        that are not None override them (``retry`` and ``transport`` too)."""
        retry, transport = overrides.pop("retry", None), overrides.pop("transport", None)
        return cls(connection=Connection.from_env(**overrides), retry=retry, transport=transport)

    def _httpx_options(self, *, asynchronous: bool) -> dict[str, Any]:
        """The connection's options, the injected transport, and the hooks: error statuses
        raise, and ``server_name`` becomes each request's TLS server name."""
        options = self.connection.httpx_options(asynchronous=asynchronous)
        if self._transport is not None:
            options["transport"] = self._transport
        hooks: dict[str, list[Callable[..., Any]]] = {
            "response": [_araise_for_status if asynchronous else _raise_for_status]
        }
        if self.connection.server_name:
            name = self.connection.server_name

            def sni(request: httpx.Request) -> None:
                request.extensions["sni_hostname"] = name

            async def asni(request: httpx.Request) -> None:
                sni(request)

            hooks["request"] = [asni if asynchronous else sni]
        options["event_hooks"] = hooks
        return options

    def _generated_client(self) -> AuthenticatedClient:
        # Only its type matters: requests go through our httpx client, which carries the token.
        return AuthenticatedClient(base_url=self.connection.url, token=self.connection.token or "")

    def _watch_request(
        self, target: dict[str, Any], interval_seconds: float, count: int, fields: dict[str, Any]
    ) -> httpx.Request:
        body = watch_body(target, interval_seconds, count, fields)
        http: httpx.Client | httpx.AsyncClient = self._http  # type: ignore[attr-defined]
        timeout = watch_timeout(interval_seconds, http.timeout)
        return http.build_request("POST", "/watch", json=body, headers={"Accept": NDJSON}, timeout=timeout)

    def _query(self, pid: int, fields: dict[str, Any], per_request: int | None) -> ScanQuery:
        assert self._kernel is not None
        page_size, address_limit = self._kernel
        return ScanQuery(
            pid, fields, per_request=per_request, page_size=page_size, address_limit=address_limit
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.connection.name!r})"


class Client(_BaseClient):
    """A pmscan node, synchronously. Use as a context manager, or call :meth:`close`.

    Every method raises the exceptions of :mod:`pmscan_client` (``ProcessNotFound``,
    ``AccessDenied``, ``Busy`` after the retries, ``TransportError``, …).
    """

    def _open(self) -> None:
        self._http = httpx.Client(**self._httpx_options(asynchronous=False))
        self._api = self._generated_client().set_httpx_client(self._http)

    def scan(
        self, pid: int, *, regions_per_request: int | None = None, **options: Unpack[ScanOptions]
    ) -> ScanStream:
        """The regions of process ``pid`` as ``ioctl(PAGEMAP_SCAN)`` reports them, streamed as
        :class:`PageRegion` objects (see :class:`ScanStream`). ``options`` are
        ``struct pm_scan_arg``'s (:class:`ScanOptions`); ``vec_len`` bounds the regions of the
        whole answer. ``regions_per_request`` pages through the answer, that many regions per
        request, resuming at ``walk_end``."""
        fields = scan_fields(**options)

        def prepare() -> ScanQuery:
            self._learn_kernel()
            return self._query(pid, fields, regions_per_request)

        return ScanStream(prepare, self._open_scan)

    def scan_records(
        self, pid: int, *, regions_per_request: int | None = None, **options: Unpack[ScanOptions]
    ) -> RegionArray:
        """The whole answer of :meth:`scan` at once, as the kernel's records: a
        :class:`RegionArray` (no object per region; ``starts``, ``ends`` and ``categories``
        as zero-copy views). Its memory is the answer's, 24 bytes a region."""
        self._learn_kernel()
        query = self._query(pid, scan_fields(**options), regions_per_request)
        return read_records(query, self._open_scan)

    @overload
    def summary(self, pid: int, *, by_vma: bool = False, **selection: Unpack[Selection]) -> Summary: ...
    @overload
    def summary(
        self, *, container_id: str, by_vma: bool = False, **selection: Unpack[Selection]
    ) -> WorkloadSummary: ...
    @overload
    def summary(
        self, *, pod_uid: str, by_vma: bool = False, **selection: Unpack[Selection]
    ) -> WorkloadSummary: ...
    def summary(
        self,
        pid: int | None = None,
        *,
        container_id: str | None = None,
        pod_uid: str | None = None,
        by_vma: bool = False,
        **selection: Unpack[Selection],
    ) -> Summary | WorkloadSummary:
        """Page counts per category (and per mapping with ``by_vma``): of process ``pid`` (a
        :class:`Summary`), or of every process of the container ``container_id`` (its 64 digits,
        or a prefix of at least 12 that names one container of the node) or of every container
        of pod ``pod_uid`` at that moment (a :class:`WorkloadSummary`). Exactly one of the three;
        an unknown container or pod raises ``ContainerNotFound`` or ``PodNotFound``, an ambiguous
        prefix ``InvalidRequest``."""
        target = _target(pid, container_id, pod_uid)
        body = _summary_body(target, by_vma, dict(selection))
        return _summary_of(target, self._call(summary_operation.sync_detailed, body=body))

    def watch(
        self,
        pid: int | None = None,
        *,
        container_id: str | None = None,
        pod_uid: str | None = None,
        interval_seconds: float,
        count: int,
        **options: Unpack[ScanOptions],
    ) -> Iterator[WatchTick]:
        """Page counts of process ``pid`` (or of container ``container_id``, or of pod
        ``pod_uid``: exactly one) every ``interval_seconds``, ``count`` times: one
        :class:`WatchTick` as each arrives (the request is sent at the first ``next``). A tick
        of a container or a pod counts the processes it has at that tick, and says how many
        (``processes``, ``skipped``). With ``flags=WP_MATCHING`` (write scope) and
        ``category_mask=WRITTEN`` on a userfaultfd-WP range, each tick counts the pages written
        since the previous one. A watch that ends early raises: ``ProcessGone`` when the process
        exits, ``Busy`` when the server stops."""
        target = _target(pid, container_id, pod_uid)  # raises now, not at the first next
        return self._ticks(self._watch_request(target, interval_seconds, count, scan_fields(**options)))

    def _ticks(self, request: httpx.Request) -> Iterator[WatchTick]:
        response = self._retrying(lambda: self._http.send(request, stream=True))
        try:
            with translate_transport_errors(streaming=True, node=self.connection.name):
                for line in response.iter_lines():
                    parsed = parse_line(line)
                    if isinstance(parsed, WatchTick):
                        yield parsed
                    elif parsed is not None:
                        return
            raise incomplete()
        finally:
            response.close()

    def processes(
        self,
        *,
        comm: str | None = None,
        uid: int | None = None,
        container_id: str | None = None,
        pod_uid: str | None = None,
    ) -> list[ProcessInfo]:
        """The processes of the node, each with its container (``comm``: exact command name;
        ``uid``: real uid; ``container_id``: those of that container, its id or a prefix of at
        least 12 digits; ``pod_uid``: those of that pod's containers)."""
        found = self._call(
            list_processes.sync_detailed, comm=comm, uid=uid, container_id=container_id, pod_uid=pod_uid
        )
        return [ProcessInfo.from_generated(p) for p in found]

    def containers(
        self, *, pod_uid: str | None = None, container_id: str | None = None, runtime: str | None = None
    ) -> list[ContainerInfo]:
        """The containers that have processes on the node, by pod UID then container id, each
        with its processes: those of pod ``pod_uid``, the one ``container_id`` names (its id,
        or a prefix of at least 12 digits; one of several containers raises
        ``InvalidRequest``), those of ``runtime`` (``containerd``, ``cri-o``, ``docker``,
        ``podman``). A filter that matches nothing gives an empty list."""
        found = self._call(
            list_containers.sync_detailed, pod_uid=pod_uid, container_id=container_id, runtime=runtime
        )
        return [ContainerInfo.from_generated(c) for c in found]

    def maps(self, pid: int) -> list[MappingInfo]:
        """The mappings of process ``pid``, as ``/proc/PID/maps`` lists them."""
        return [MappingInfo.from_generated(m) for m in self._call(get_maps.sync_detailed, pid)]

    def capabilities(self) -> Capabilities:
        """What the node's kernel and service can do."""
        result = Capabilities.from_generated(self._call(get_capabilities.sync_detailed))
        self._kernel = (result.page_size, result.user_address_limit)
        return result

    def clear_soft_dirty(self, pid: int) -> None:
        """Reset the soft-dirty bits of process ``pid`` (needs the ``write`` scope)."""
        self._call(clear_soft_dirty.sync_detailed, pid)

    def metrics(self) -> str:
        """The node's ``/metrics`` (Prometheus text): its own series and the page states of the
        groups and containers it exports."""
        response: httpx.Response = self._retrying(lambda: self._http.get("/metrics"))
        return response.text

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _learn_kernel(self) -> None:
        if self._kernel is None:
            self.capabilities()

    def _call(self, operation: Callable[..., Response[Any]], *args: Any, **kwargs: Any) -> Any:
        def call() -> Any:
            with _parsing():
                return _parsed(operation(*args, client=self._api, **kwargs))

        return self._retrying(call)

    @contextmanager
    def _open_scan(self, body: dict[str, Any]) -> Iterator[httpx.Response]:
        request = self._http.build_request("POST", "/scan", json=body, headers={"Accept": BINARY})
        response = self._retrying(lambda: self._http.send(request, stream=True))
        try:
            yield response
        finally:
            response.close()

    def _retrying(self, call: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                with translate_transport_errors(node=self.connection.name):
                    return call()
            except Busy as busy:
                delay = self.retry.delay(busy, attempt)
                if delay is None:
                    raise
                time.sleep(delay)
                attempt += 1


class AsyncClient(_BaseClient):
    """:class:`Client` for asyncio: the same methods, awaited (``scan`` returns an
    :class:`AsyncScanStream` for ``async for``). Use with ``async with`` or call :meth:`aclose`."""

    def _open(self) -> None:
        self._http = httpx.AsyncClient(**self._httpx_options(asynchronous=True))
        self._api = self._generated_client().set_async_httpx_client(self._http)

    def scan(
        self, pid: int, *, regions_per_request: int | None = None, **options: Unpack[ScanOptions]
    ) -> AsyncScanStream:
        """As :meth:`Client.scan`; the request is sent when the ``async for`` starts."""
        fields = scan_fields(**options)

        async def prepare() -> ScanQuery:
            if self._kernel is None:
                await self.capabilities()
            return self._query(pid, fields, regions_per_request)

        return AsyncScanStream(prepare, self._open_scan)

    async def scan_records(
        self, pid: int, *, regions_per_request: int | None = None, **options: Unpack[ScanOptions]
    ) -> RegionArray:
        """As :meth:`Client.scan_records`."""
        if self._kernel is None:
            await self.capabilities()
        query = self._query(pid, scan_fields(**options), regions_per_request)
        return await aread_records(query, self._open_scan)

    @overload
    async def summary(self, pid: int, *, by_vma: bool = False, **selection: Unpack[Selection]) -> Summary: ...
    @overload
    async def summary(
        self, *, container_id: str, by_vma: bool = False, **selection: Unpack[Selection]
    ) -> WorkloadSummary: ...
    @overload
    async def summary(
        self, *, pod_uid: str, by_vma: bool = False, **selection: Unpack[Selection]
    ) -> WorkloadSummary: ...
    async def summary(
        self,
        pid: int | None = None,
        *,
        container_id: str | None = None,
        pod_uid: str | None = None,
        by_vma: bool = False,
        **selection: Unpack[Selection],
    ) -> Summary | WorkloadSummary:
        """As :meth:`Client.summary`."""
        target = _target(pid, container_id, pod_uid)
        body = _summary_body(target, by_vma, dict(selection))
        return _summary_of(target, await self._call(summary_operation.asyncio_detailed, body=body))

    def watch(
        self,
        pid: int | None = None,
        *,
        container_id: str | None = None,
        pod_uid: str | None = None,
        interval_seconds: float,
        count: int,
        **options: Unpack[ScanOptions],
    ) -> AsyncIterator[WatchTick]:
        """As :meth:`Client.watch`, for ``async for``."""
        target = _target(pid, container_id, pod_uid)  # raises now, not at the first anext
        return self._ticks(self._watch_request(target, interval_seconds, count, scan_fields(**options)))

    async def _ticks(self, request: httpx.Request) -> AsyncIterator[WatchTick]:
        response = await self._retrying(lambda: self._http.send(request, stream=True))
        try:
            with translate_transport_errors(streaming=True, node=self.connection.name):
                async for line in response.aiter_lines():
                    parsed = parse_line(line)
                    if isinstance(parsed, WatchTick):
                        yield parsed
                    elif parsed is not None:
                        return
            raise incomplete()
        finally:
            await response.aclose()

    async def processes(
        self,
        *,
        comm: str | None = None,
        uid: int | None = None,
        container_id: str | None = None,
        pod_uid: str | None = None,
    ) -> list[ProcessInfo]:
        """As :meth:`Client.processes`."""
        found = await self._call(
            list_processes.asyncio_detailed, comm=comm, uid=uid, container_id=container_id, pod_uid=pod_uid
        )
        return [ProcessInfo.from_generated(p) for p in found]

    async def containers(
        self, *, pod_uid: str | None = None, container_id: str | None = None, runtime: str | None = None
    ) -> list[ContainerInfo]:
        """As :meth:`Client.containers`."""
        found = await self._call(
            list_containers.asyncio_detailed, pod_uid=pod_uid, container_id=container_id, runtime=runtime
        )
        return [ContainerInfo.from_generated(c) for c in found]

    async def maps(self, pid: int) -> list[MappingInfo]:
        """As :meth:`Client.maps`."""
        return [MappingInfo.from_generated(m) for m in await self._call(get_maps.asyncio_detailed, pid)]

    async def capabilities(self) -> Capabilities:
        """As :meth:`Client.capabilities`."""
        result = Capabilities.from_generated(await self._call(get_capabilities.asyncio_detailed))
        self._kernel = (result.page_size, result.user_address_limit)
        return result

    async def clear_soft_dirty(self, pid: int) -> None:
        """As :meth:`Client.clear_soft_dirty`."""
        await self._call(clear_soft_dirty.asyncio_detailed, pid)

    async def metrics(self) -> str:
        """As :meth:`Client.metrics`."""
        response: httpx.Response = await self._retrying(lambda: self._http.get("/metrics"))
        return response.text

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _call(
        self, operation: Callable[..., Awaitable[Response[Any]]], *args: Any, **kwargs: Any
    ) -> Any:
        async def call() -> Any:
            with _parsing():
                return _parsed(await operation(*args, client=self._api, **kwargs))

        return await self._retrying(call)

    @asynccontextmanager
    async def _open_scan(self, body: dict[str, Any]) -> AsyncIterator[httpx.Response]:
        request = self._http.build_request("POST", "/scan", json=body, headers={"Accept": BINARY})
        response = await self._retrying(lambda: self._http.send(request, stream=True))
        try:
            yield response
        finally:
            await response.aclose()

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            try:
                with translate_transport_errors(node=self.connection.name):
                    return await call()
            except Busy as busy:
                delay = self.retry.delay(busy, attempt)
                if delay is None:
                    raise
                await asyncio.sleep(delay)
                attempt += 1
