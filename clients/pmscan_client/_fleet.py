"""``FleetClient``: the same question to many nodes at once, each answer or error per node.

A pid means a different process on each node; a pod UID or a container id means one workload
of the whole fleet: :meth:`FleetClient.locate` finds the node(s) that run it, and
:meth:`FleetClient.summary` with ``pod_uid`` or ``container_id`` returns the one answer with its
node.

Nodes are URLs, or the addresses of a Kubernetes headless Service: its DNS name resolves to
one A/AAAA record per ready pod. ``socket.getaddrinfo`` (the system resolver, run in a
thread by asyncio) returns all of them, and honours the pod's ``resolv.conf`` search domains
and ``/etc/hosts`` as every other program there does, so no DNS library is needed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, overload

import httpx

from ._categories import Category
from ._client import AsyncClient
from ._connection import DEFAULT_PORT, Connection
from ._errors import ContainerNotFound, PmscanError, PodNotFound, Timeout, TransportError
from ._models import Capabilities, ContainerInfo, ProcessInfo, Summary, WorkloadSummary
from ._retry import RetryPolicy

__all__ = [
    "FleetClient",
    "FleetResult",
    "FleetSummary",
    "FleetWorkloadSummary",
    "discover_nodes",
    "distinct_nodes",
]

T = TypeVar("T")


@dataclass(frozen=True)
class FleetResult(Generic[T]):
    """Per node (by URL, in the order the nodes were given): its answer, or what went wrong."""

    results: dict[str, T] = field(default_factory=dict)
    errors: dict[str, Exception] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every node answered."""
        return not self.errors


@dataclass(frozen=True)
class FleetSummary(FleetResult[Summary]):
    """Summaries per node, and their sums over the nodes that answered."""

    @property
    def pages(self) -> int:
        return sum(s.pages for s in self.results.values())

    @property
    def categories(self) -> dict[Category, int]:
        """Pages per category, summed over the nodes (bit order)."""
        totals: dict[Category, int] = {}
        for summary in self.results.values():
            for category, pages in summary.categories.items():
                totals[category] = totals.get(category, 0) + pages
        return dict(sorted(totals.items(), key=lambda kv: kv[0].value))


@dataclass(frozen=True)
class FleetWorkloadSummary(FleetResult[WorkloadSummary]):
    """The summary of a pod or a container from the node that runs it: ``results`` holds that
    node's answer (nodes that do not run it are left out: that is no error), ``errors`` the nodes
    that could not answer (it may run on one of them)."""

    @property
    def node(self) -> str | None:
        """The node that runs the workload, or None when no node that answered does. Raises
        ``ValueError`` when several do (a container id prefix that names containers of several
        nodes: give more digits)."""
        if len(self.results) > 1:
            raise ValueError(f"{len(self.results)} nodes run it: {', '.join(self.results)}")
        return next(iter(self.results), None)

    @property
    def summary(self) -> WorkloadSummary | None:
        """That node's answer (see :attr:`node`)."""
        node = self.node
        return None if node is None else self.results[node]


async def discover_nodes(service: str, *, port: int = DEFAULT_PORT, scheme: str = "https") -> list[str]:
    """``scheme://IP:port`` for every address ``service`` resolves to (sorted, IPv4 first).

    Raises ``TransportError`` when the name does not resolve.
    """
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(service, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise TransportError(f"cannot resolve {service}: {err.strerror}") from err
    addresses = sorted({ipaddress.ip_address(info[4][0]) for info in infos}, key=lambda a: (a.version, a))
    return [f"{scheme}://{f'[{a}]' if a.version == 6 else a}:{port}" for a in addresses]


async def distinct_nodes(nodes: Iterable[str]) -> list[str]:
    """``nodes`` less those that are another one under another name: a URL whose scheme, port and
    one of the addresses its host resolves to are those of a URL before it (``http://localhost:6716``
    after ``http://127.0.0.1:6716``). The first name of each node is kept, in the order given; a
    host that does not resolve is kept (asking it will say what is wrong)."""
    loop = asyncio.get_running_loop()
    seen: set[tuple[str, str, int]] = set()
    kept: list[str] = []
    for node in dict.fromkeys(nodes):
        url = httpx.URL(node)
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            infos = await loop.getaddrinfo(url.host, port, type=socket.SOCK_STREAM)
            addresses = {str(ipaddress.ip_address(info[4][0])) for info in infos}
        except (socket.gaierror, UnicodeError, ValueError):
            addresses = {url.host}
        keys = {(url.scheme, address, port) for address in addresses}
        if not keys & seen:
            kept.append(node)
        seen |= keys
    return kept


class FleetClient:
    """Ask many nodes at once: at most ``concurrency`` requests in flight, each node's answer
    within ``node_timeout`` seconds (else a :class:`Timeout` for that node). A node that fails
    fails alone: its exception lands in :attr:`FleetResult.errors`. A URL given twice is asked
    once; one node under two names (``localhost``, ``127.0.0.1``) is asked once when the URLs
    go through :func:`distinct_nodes` first.

    ``token``, ``verify``, ``cert``, ``server_name``, ``retry`` apply to every node (see
    :class:`Connection`; ``server_name`` checks certificates of nodes addressed by IP).
    """

    def __init__(
        self,
        nodes: Iterable[str],
        *,
        concurrency: int = 32,
        node_timeout: float = 30.0,
        token: str | None = None,
        verify: bool | str | ssl.SSLContext = True,
        cert: str | tuple[str, str] | None = None,
        server_name: str | None = None,
        retry: RetryPolicy | None = None,
        on_answer: Callable[[str, Exception | None], None] | None = None,
    ) -> None:
        self.nodes = list(dict.fromkeys(nodes))
        #: Called with each node and its error (None when it answered), as each is done.
        self.on_answer = on_answer
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.node_timeout = node_timeout
        self._limit = asyncio.Semaphore(concurrency)
        self._connection = Connection(
            token=token, verify=verify, cert=cert, server_name=server_name, timeout=node_timeout
        )
        self._retry = retry or RetryPolicy(attempts=1)
        self._clients: dict[str, AsyncClient] = {}

    @classmethod
    async def from_service(
        cls, service: str, *, port: int = DEFAULT_PORT, scheme: str = "https", **options: Any
    ) -> FleetClient:
        """The nodes behind a headless Service's DNS name (see :func:`discover_nodes`)."""
        return cls(await discover_nodes(service, port=port, scheme=scheme), **options)

    async def gather(self, call: Callable[[AsyncClient], Awaitable[T]]) -> FleetResult[T]:
        """``await call(client)`` for every node's :class:`AsyncClient`, concurrently."""
        outcomes = await asyncio.gather(*(self._ask(node, call) for node in self.nodes))
        result: FleetResult[T] = FleetResult()
        for node, (answer, error) in zip(self.nodes, outcomes, strict=True):
            if error is None:
                result.results[node] = answer  # type: ignore[assignment]
            else:
                result.errors[node] = error
        return result

    @overload
    async def summary(self, pid: int, **options: Any) -> FleetSummary: ...
    @overload
    async def summary(self, *, pod_uid: str, **options: Any) -> FleetWorkloadSummary: ...
    @overload
    async def summary(self, *, container_id: str, **options: Any) -> FleetWorkloadSummary: ...
    async def summary(
        self,
        pid: int | None = None,
        *,
        pod_uid: str | None = None,
        container_id: str | None = None,
        **options: Any,
    ) -> FleetSummary | FleetWorkloadSummary:
        """With ``pod_uid`` or ``container_id``: the summary of that workload from the node that
        runs it (:class:`FleetWorkloadSummary`: every node is asked; one that does not run it is
        left out, not an error).

        With ``pid``: :meth:`AsyncClient.summary` of process ``pid`` on every node, with the
        per-category sums (:class:`FleetSummary`). A pid names a different process on each node,
        so this answers a sensible question only where the number means the same thing on every
        node: pid 1, each node's init (its memory across the fleet). To follow a workload, ask
        by ``pod_uid`` or ``container_id``."""
        if pid is not None:
            if pod_uid is not None or container_id is not None:
                raise TypeError("give exactly one of pid, container_id and pod_uid")
            result = await self.gather(lambda client: client.summary(pid, **options))
            return FleetSummary(result.results, result.errors)

        if (pod_uid is None) == (container_id is None):
            raise TypeError("give exactly one of pid, container_id and pod_uid")

        async def here(client: AsyncClient) -> WorkloadSummary | None:
            try:
                if container_id is not None:
                    return await client.summary(container_id=container_id, **options)
                assert pod_uid is not None
                return await client.summary(pod_uid=pod_uid, **options)
            except (ContainerNotFound, PodNotFound):
                return None  # not on this node

        found = await self.gather(here)
        answers = {node: summary for node, summary in found.results.items() if summary is not None}
        return FleetWorkloadSummary(answers, found.errors)

    async def locate(
        self, *, pod_uid: str | None = None, container_id: str | None = None
    ) -> FleetResult[list[ContainerInfo]]:
        """Which nodes run pod ``pod_uid`` (or container ``container_id``: its id, or a prefix
        of at least 12 digits): ``results`` holds, for each node that does, its containers
        there (with their processes); a node that does not is left out (no error); ``errors``
        the nodes that could not answer."""
        if (pod_uid is None) == (container_id is None):
            raise TypeError("give exactly one of pod_uid and container_id")
        found = await self.containers(pod_uid=pod_uid, container_id=container_id)
        return FleetResult({node: c for node, c in found.results.items() if c}, found.errors)

    async def containers(
        self, *, pod_uid: str | None = None, container_id: str | None = None, runtime: str | None = None
    ) -> FleetResult[list[ContainerInfo]]:
        """:meth:`AsyncClient.containers` on every node."""
        return await self.gather(
            lambda client: client.containers(pod_uid=pod_uid, container_id=container_id, runtime=runtime)
        )

    async def capabilities(self) -> FleetResult[Capabilities]:
        return await self.gather(lambda client: client.capabilities())

    async def processes(
        self,
        *,
        comm: str | None = None,
        uid: int | None = None,
        container_id: str | None = None,
        pod_uid: str | None = None,
    ) -> FleetResult[list[ProcessInfo]]:
        """:meth:`AsyncClient.processes` on every node."""
        return await self.gather(
            lambda client: client.processes(comm=comm, uid=uid, container_id=container_id, pod_uid=pod_uid)
        )

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        await asyncio.gather(*(client.aclose() for client in clients.values()))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _client(self, node: str) -> AsyncClient:
        client = self._clients.get(node)
        if client is None:
            client = self._clients[node] = AsyncClient(
                connection=self._connection.with_url(node), retry=self._retry
            )
        return client

    async def _ask(
        self, node: str, call: Callable[[AsyncClient], Awaitable[T]]
    ) -> tuple[T | None, Exception | None]:
        async with self._limit:
            outcome: tuple[T | None, Exception | None]
            try:
                async with asyncio.timeout(self.node_timeout):
                    outcome = await call(self._client(node)), None
            except TimeoutError:
                outcome = None, Timeout(f"{node} did not answer within {self.node_timeout:g} s")
            except PmscanError as error:
                outcome = None, error
            if self.on_answer is not None:
                self.on_answer(node, outcome[1])
            return outcome
