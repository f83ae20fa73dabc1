"""``POST /scan`` in the binary format, streamed: the request body, the paging through
``walk_end``, and the stream objects that :meth:`Client.scan` and :meth:`AsyncClient.scan` return.

The generated client cannot stream (it reads whole bodies), so the streams use ``httpx``
directly; the request body is still built by the generated ``ScanRequest`` model.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from itertools import chain
from types import TracebackType
from typing import Any, Self, TypedDict, Unpack

import httpx

from ._categories import Category, Mask, ScanFlag, mask_value
from ._errors import IncompleteResponse, translate_transport_errors
from ._generated.models import ScanRequest
from ._models import PageRegion
from ._records import RECORD_SIZE, RecordReader, Trailer, regions_of, trailer_of, value_list, values_of
from ._regions import RegionArray

__all__ = [
    "BINARY",
    "Address",
    "AsyncScanStream",
    "ScanOptions",
    "ScanQuery",
    "ScanStream",
    "Selection",
    "aread_records",
    "read_records",
    "scan_fields",
]

_END = struct.Struct("<Q")
#: An address: an integer, or a ``"0x…"`` hex string.
Address = int | str
BINARY = "application/octet-stream"


class Selection(TypedDict, total=False):
    """Which pages a scan or a summary looks at: ``struct pm_scan_arg``'s fields, the keyword
    arguments of :meth:`Client.summary` (and, with :class:`ScanOptions`, of the scans).

    ``start``/``end``: addresses (bytes, ``[start, end)``, an int or a ``"0x…"`` string;
    default: the process's lowest mapped address and highest mapped end). The masks:
    ``Category`` bits or names. ``return_mask``: default every category the node knows.
    ``max_pages``: stop after this many matching pages (0: no limit). ``backend``: ``auto``,
    ``ioctl`` or ``pagemap``.
    """

    start: Address | None
    end: Address | None
    category_mask: Mask
    category_anyof_mask: Mask
    category_inverted: Mask
    return_mask: Mask | None
    max_pages: int
    backend: str


class ScanOptions(Selection, total=False):
    """:class:`Selection`, and for scans: ``flags`` (``ScanFlag``: ``WP_MATCHING`` needs the write
    scope) and ``vec_len``, the most regions of the whole answer (default: no limit)."""

    flags: Mask
    vec_len: int | None


def scan_fields(**options: Unpack[ScanOptions]) -> dict[str, Any]:
    """The JSON fields of a ``ScanRequest`` (also of a ``SummaryRequest``) that differ from the defaults."""
    return_mask = options.get("return_mask")
    backend = options.get("backend", "auto")
    fields: dict[str, Any] = {
        "start": options.get("start"),
        "end": options.get("end"),
        "category_mask": mask_value(Category, options.get("category_mask", 0)) or None,
        "category_anyof_mask": mask_value(Category, options.get("category_anyof_mask", 0)) or None,
        "category_inverted": mask_value(Category, options.get("category_inverted", 0)) or None,
        "return_mask": None if return_mask is None else mask_value(Category, return_mask),
        "flags": mask_value(ScanFlag, options.get("flags", 0)) or None,
        "max_pages": options.get("max_pages") or None,
        "vec_len": options.get("vec_len"),
        "backend": None if backend == "auto" else backend,
    }
    return {name: value for name, value in fields.items() if value is not None}


def _address(value: Address) -> int:
    return int(value, 16) if isinstance(value, str) else value


class ScanQuery:
    """The requests of one scan and the counts of what came back (no I/O here).

    With ``per_request`` unset, one request. With it, each request asks for at most that many
    regions (``vec_len``) and the next resumes at the previous ``walk_end``, until a response
    comes back short, the caller's own ``vec_len`` or ``max_pages`` is used up, or the walk
    reached the end of the range.
    """

    def __init__(
        self, pid: int, fields: dict[str, Any], *, per_request: int | None, page_size: int, address_limit: int
    ) -> None:
        if per_request is not None and per_request <= 0:
            raise ValueError("regions_per_request must be positive")
        self.pid = pid
        self.walk_end: int | None = None
        self.regions = 0
        self.pages = 0
        self.requests = 0
        self.position: int | None = None
        self._fields = fields
        self._per_request = per_request
        self._page_size = page_size
        self._end = min(_address(fields["end"]), address_limit) if "end" in fields else address_limit
        self._asked: int | None = None
        self._received = 0
        self._done = False

    def next_body(self) -> dict[str, Any] | None:
        """The JSON body of the next request, or ``None`` when the scan is complete."""
        if self._done:
            return None
        fields = dict(self._fields)
        if self.walk_end is not None:
            fields["start"] = self.walk_end
        if self._per_request is not None:
            fields["vec_len"] = self._per_request
            if "vec_len" in self._fields:
                fields["vec_len"] = min(self._per_request, self._fields["vec_len"] - self.regions)
            if "max_pages" in self._fields:
                fields["max_pages"] = self._fields["max_pages"] - self.pages
        self._asked = fields["vec_len"] if self._per_request is not None else None
        self._received = 0
        self.requests += 1
        return ScanRequest.from_dict({"pid": self.pid, **fields}).to_dict()

    def add(self, values: Sequence[int]) -> None:
        """Count the records of ``values``, their integers ``start, end, categories, …``
        (:func:`value_list`, :func:`values_of`)."""
        count = len(values) // 3
        self._received += count
        self.regions += count
        self.pages += (sum(values[1::3]) - sum(values[0::3])) // self._page_size
        self.position = values[-2]

    def add_buffered(self, buffer: bytearray, start: int) -> None:
        """Count the packed records of ``buffer`` from ``start`` on, without an object per
        record: their pages only where paging by ``max_pages`` needs them."""
        count = (len(buffer) - start) // RECORD_SIZE
        if not count:
            return
        if "max_pages" in self._fields and self._per_request is not None:
            self.add(values_of(buffer[start:]))
            return
        self._received += count
        self.regions += count
        self.position = _END.unpack_from(buffer, len(buffer) - RECORD_SIZE + 8)[0]

    @property
    def page_size(self) -> int:
        return self._page_size

    def finish_response(self, trailer: Trailer) -> None:
        """The trailer ended a response: check it, and decide whether another request follows."""
        if trailer.regions != self._received:
            raise IncompleteResponse(
                f"the trailer counts {trailer.regions} regions but {self._received} arrived"
            )
        self.walk_end = trailer.walk_end
        self._done = (
            self._asked is None  # not paging: one request
            or self._received < self._asked  # a short page: the walk is complete (or max_pages hit)
            or trailer.walk_end >= self._end
            or self._used_up("vec_len", self.regions)
            or self._used_up("max_pages", self.pages)
        )

    def _used_up(self, limit: str, used: int) -> bool:
        """Whether the caller's own ``vec_len`` or ``max_pages`` is reached."""
        return limit in self._fields and used >= self._fields[limit]

    @property
    def complete(self) -> bool:
        return self._done


class _StreamState:
    """What both streams expose while and after they are read."""

    _query: ScanQuery | None = None
    _mode: str | None = None

    @property
    def complete(self) -> bool:
        """True once every response ended with its trailer."""
        return self._query is not None and self._query.complete

    @property
    def walk_end(self) -> int | None:
        """Where to resume (``end`` when nothing is left); ``None`` until the scan is complete."""
        return self._query.walk_end if self.complete and self._query else None

    @property
    def regions(self) -> int:
        """Regions received so far."""
        return self._query.regions if self._query else 0

    @property
    def pages(self) -> int:
        """Pages of the regions received so far."""
        return self._query.pages if self._query else 0

    @property
    def position(self) -> int | None:
        """The end address of the last region received (for progress reports)."""
        return self._query.position if self._query else None

    @property
    def requests(self) -> int:
        """HTTP requests made so far (more than one when paging with ``regions_per_request``)."""
        return self._query.requests if self._query else 0

    def _start(self, mode: str) -> bool:
        """True when reading starts now in ``mode``; False when it goes on (an iterator's
        ``__iter__``). Raises ``RuntimeError`` when the stream is being read in the other mode."""
        if self._mode is None:
            self._mode = mode
            return True
        if self._mode != mode:
            raise RuntimeError(f"this scan stream is read as {self._mode}, not as {mode}")
        return False


class ScanStream(_StreamState):
    """The regions of a scan as they arrive: an iterator of :class:`PageRegion` (or of raw
    record chunks: :meth:`iter_raw`). After it, :attr:`walk_end`, :attr:`regions` and
    :attr:`pages` describe the answer. The request is sent when the iteration starts; use the
    stream as a context manager (or call :meth:`close`) to stop early.

    Iteration raises the status's exception (``ProcessNotFound``, …), the error record's
    (``ProcessGone``, …), or ``IncompleteResponse`` if the stream was cut short.
    """

    def __init__(
        self,
        prepare: Callable[[], ScanQuery],
        open_response: Callable[[dict[str, Any]], AbstractContextManager[httpx.Response]],
    ) -> None:
        self._prepare = prepare
        self._open = open_response
        self._iterator: Iterator[Any] | None = None
        self._source: Generator[tuple[bytes, list[int]]] | None = None

    def __iter__(self) -> Iterator[PageRegion]:
        # The generator itself, not self: ``for`` loops then run without a Python-level
        # ``__next__`` call per region.
        if self._start("regions"):
            self._iterator = self._regions()
        assert self._iterator is not None
        return self._iterator

    def __next__(self) -> PageRegion:
        region: PageRegion = next(iter(self))
        return region

    def iter_raw(self) -> Iterator[bytes]:
        """The records as they came, in chunks, instead of regions: three little-endian u64
        each (``numpy.frombuffer(chunk, "<u8").reshape(-1, 3)``), no trailer."""
        if self._start("raw records"):
            self._source = self._chunks()
            self._iterator = (records for records, _ in self._source)
        assert self._iterator is not None
        return self._iterator

    def _regions(self) -> Iterator[PageRegion]:
        # chain: no Python frame is resumed per region, only per chunk. The regions are made
        # from the integers the page count was made from: each integer is made once.
        self._source = self._chunks()
        return chain.from_iterable(regions_of(values) for _, values in self._source)

    def _chunks(self) -> Generator[tuple[bytes, list[int]]]:
        query = self._query = self._prepare()
        while (body := query.next_body()) is not None:
            reader = RecordReader()
            with self._open(body) as response:
                with translate_transport_errors(streaming=True):
                    for data in response.iter_bytes():
                        records = reader.feed(data)
                        if records:
                            values = value_list(records)
                            query.add(values)
                            yield records, values
                query.finish_response(reader.finish())

    def close(self) -> None:
        """Stop reading: the response is closed (the server stops scanning)."""
        if self._source is not None:
            self._source.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncScanStream(_StreamState):
    """:class:`ScanStream` for ``async for``; ``async with`` closes it."""

    def __init__(
        self,
        prepare: Callable[[], Awaitable[ScanQuery]],
        open_response: Callable[[dict[str, Any]], AbstractAsyncContextManager[httpx.Response]],
    ) -> None:
        self._prepare = prepare
        self._open = open_response
        self._iterator: AsyncIterator[Any] | None = None

    def __aiter__(self) -> AsyncIterator[PageRegion]:
        if self._start("regions"):
            self._iterator = self._regions()
        assert self._iterator is not None
        return self._iterator

    async def __anext__(self) -> PageRegion:
        region: PageRegion = await anext(self.__aiter__())
        return region

    def aiter_raw(self) -> AsyncIterator[bytes]:
        """The packed records in chunks, as :meth:`ScanStream.iter_raw`."""
        if self._start("raw records"):
            self._iterator = self._raw()
        assert self._iterator is not None
        return self._iterator

    async def _raw(self) -> AsyncIterator[bytes]:
        async for records, _ in self._chunks():
            yield records

    async def _regions(self) -> AsyncIterator[PageRegion]:
        async for _, values in self._chunks():
            for region in regions_of(values):
                yield region

    async def _chunks(self) -> AsyncIterator[tuple[bytes, list[int]]]:
        query = self._query = await self._prepare()
        while (body := query.next_body()) is not None:
            reader = RecordReader()
            async with self._open(body) as response:
                with translate_transport_errors(streaming=True):
                    async for data in response.aiter_bytes():
                        records = reader.feed(data)
                        if records:
                            values = value_list(records)
                            query.add(values)
                            yield records, values
                query.finish_response(reader.finish())

    async def aclose(self) -> None:
        """Stop reading: the response is closed (the server stops scanning)."""
        iterator = self._iterator
        if iterator is not None and hasattr(iterator, "aclose"):
            await iterator.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def read_records(
    query: ScanQuery, open_response: Callable[[dict[str, Any]], AbstractContextManager[httpx.Response]]
) -> RegionArray:
    """Every response of ``query`` read whole into one buffer: a :class:`RegionArray`."""
    buffer = bytearray()
    while (body := query.next_body()) is not None:
        start = len(buffer)
        with open_response(body) as response, translate_transport_errors(streaming=True):
            for data in response.iter_bytes():
                buffer += data
        query.finish_response(_take_trailer(buffer, start, query))
    assert query.walk_end is not None
    return RegionArray(buffer, walk_end=query.walk_end, page_size=query.page_size)


async def aread_records(
    query: ScanQuery,
    open_response: Callable[[dict[str, Any]], AbstractAsyncContextManager[httpx.Response]],
) -> RegionArray:
    """:func:`read_records` for asyncio."""
    buffer = bytearray()
    while (body := query.next_body()) is not None:
        start = len(buffer)
        async with open_response(body) as response:
            with translate_transport_errors(streaming=True):
                async for data in response.aiter_bytes():
                    buffer += data
        query.finish_response(_take_trailer(buffer, start, query))
    assert query.walk_end is not None
    return RegionArray(buffer, walk_end=query.walk_end, page_size=query.page_size)


def _take_trailer(buffer: bytearray, start: int, query: ScanQuery) -> Trailer:
    """Remove the last record of the response that begins at ``start`` and return it as the
    trailer (raising the error record's exception, or ``IncompleteResponse``); count the rest."""
    size = len(buffer) - start
    if size < RECORD_SIZE or size % RECORD_SIZE:
        raise IncompleteResponse("the scan stream ended without its trailer")
    trailer = trailer_of(bytes(buffer[-RECORD_SIZE:]))
    del buffer[-RECORD_SIZE:]
    query.add_buffered(buffer, start)
    return trailer
