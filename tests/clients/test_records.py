"""The binary stream read incrementally: records cut at every byte, trailers, error records and
streams cut short, through ``httpx.MockTransport`` (no server)."""

from __future__ import annotations

import errno
import json
import struct
from collections.abc import Iterator

import httpx
import pytest
from pmscan_client import (
    Category,
    Client,
    IncompleteResponse,
    NotWPAsync,
    PageRegion,
    ProcessGone,
    ScanTimeout,
    ServerError,
)
from pmscan_client._records import RecordReader, decode

RECORD = struct.Struct("<QQQ")
PAGE = 4096
LIMIT = 0x7FFFFFFFF000
CAPABILITIES = {
    "kernel_release": "6.18",
    "page_size": PAGE,
    "pagemap_scan": True,
    "categories": ["WPALLOWED", "WRITTEN", "FILE", "PRESENT"],
    "soft_dirty": True,
    "user_address_limit": LIMIT,
    "backends": ["ioctl"],
    "default_backend": "ioctl",
    "limits": {},
}
REGIONS = [
    PageRegion(0x10000, 0x12000, Category.PRESENT | Category.WRITTEN),
    PageRegion(0x12000, 0x13000, Category.PRESENT),
    PageRegion(0x20000, 0x40000, Category(0)),
    PageRegion(0x7FFF0000, 0x80000000, Category.FILE | Category.PRESENT | Category.GUARD),
]


def records(regions: list[PageRegion]) -> bytes:
    return b"".join(RECORD.pack(*r) for r in regions)


def trailer(walk_end: int, count: int) -> bytes:
    return RECORD.pack((1 << 64) - 1, walk_end, count)


def error_record(number: int) -> bytes:
    return RECORD.pack((1 << 64) - 2, number, 0)


def pieces(body: bytes, size: int) -> Iterator[bytes]:
    for at in range(0, len(body), size):
        yield body[at : at + size]


def mock_client(
    scan_bodies: list[bytes], *, chunk: int = 7, seen: list[dict[str, object]] | None = None
) -> Client:
    """A Client whose server answers /capabilities, and each /scan with the next body, sent in
    pieces of ``chunk`` bytes."""
    bodies = iter(scan_bodies)

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/capabilities":
            return httpx.Response(200, json=CAPABILITIES)
        assert request.headers["accept"] == "application/octet-stream"
        if seen is not None:
            seen.append(json.loads(request.content))
        return httpx.Response(200, content=pieces(next(bodies), chunk))

    return Client(transport=httpx.MockTransport(answer))


class TestRecordReader:
    @pytest.mark.parametrize("size", [1, 5, 23, 24, 25, 48, 71, 1000])
    def test_regions_and_trailer_from_chunks_of_any_size(self, size: int) -> None:
        reader = RecordReader()
        body = records(REGIONS) + trailer(0x80000000, len(REGIONS))
        got = b"".join(reader.feed(part) for part in pieces(body, size))
        assert list(decode(got)) == REGIONS
        assert reader.finish() == (0x80000000, len(REGIONS))

    def test_the_trailer_is_held_back_until_the_end(self) -> None:
        reader = RecordReader()
        assert reader.feed(records(REGIONS[:1])) == b""
        assert reader.feed(trailer(0x13000, 1)) == records(REGIONS[:1])

    @pytest.mark.parametrize("cut", [0, 1, 24, 30, 95, 96, 97])
    def test_a_body_cut_short_is_incomplete(self, cut: int) -> None:
        reader = RecordReader()
        body = (records(REGIONS) + trailer(0x80000000, 4))[:cut]
        reader.feed(body)
        with pytest.raises(IncompleteResponse):
            reader.finish()

    @pytest.mark.parametrize(
        ("number", "kind"),
        [
            (errno.ESRCH, ProcessGone),
            (errno.EPERM, NotWPAsync),
            (errno.ETIMEDOUT, ScanTimeout),
            (errno.EIO, ServerError),
        ],
    )
    def test_an_error_record_raises_its_exception(self, number: int, kind: type[Exception]) -> None:
        reader = RecordReader()
        reader.feed(records(REGIONS) + error_record(number))
        with pytest.raises(kind) as raised:
            reader.finish()
        assert raised.value.code == errno.errorcode[number]  # type: ignore[attr-defined]

    def test_unknown_category_bits_survive(self) -> None:
        region = PageRegion(0x1000, 0x2000, Category(1 << 12 | 1))
        assert list(decode(records([region]))) == [region]


class TestScanStream:
    @pytest.mark.parametrize("chunk", [1, 24, 100, 4096])
    def test_regions_walk_end_and_counts(self, chunk: int) -> None:
        body = records(REGIONS) + trailer(0x80000000, len(REGIONS))
        with mock_client([body], chunk=chunk) as client:
            stream = client.scan(1)
            before = (stream.walk_end, stream.complete)
            assert list(stream) == REGIONS
        assert before == (None, False) and stream.complete
        assert (stream.walk_end, stream.regions, stream.requests) == (0x80000000, 4, 1)
        assert stream.pages == sum(r.pages(PAGE) for r in REGIONS)
        assert all(isinstance(r.categories, Category) for r in REGIONS)

    def test_iter_raw_gives_the_wire_records(self) -> None:
        body = records(REGIONS) + trailer(0x80000000, len(REGIONS))
        with mock_client([body]) as client:
            assert b"".join(client.scan(1).iter_raw()) == records(REGIONS)

    def test_a_stream_without_trailer_raises_incomplete_response(self) -> None:
        with mock_client([records(REGIONS)]) as client:
            stream = client.scan(1)
            with pytest.raises(IncompleteResponse):
                list(stream)
            assert not stream.complete and stream.walk_end is None

    def test_a_trailer_that_miscounts_is_incomplete(self) -> None:
        with (
            mock_client([records(REGIONS) + trailer(0x80000000, 5)]) as client,
            pytest.raises(IncompleteResponse),
        ):
            list(client.scan(1))

    def test_regions_before_an_error_record_arrive_first(self) -> None:
        got: list[PageRegion] = []
        body = records(REGIONS) + error_record(errno.ESRCH)
        with mock_client([body], chunk=1000) as client, pytest.raises(ProcessGone):
            got.extend(client.scan(1))
        assert got == REGIONS

    @pytest.mark.parametrize("raw", [False, True])
    def test_closing_early_closes_the_response(self, raw: bool) -> None:
        class Body(httpx.SyncByteStream):
            closed = False

            def __iter__(self) -> Iterator[bytes]:
                yield from pieces(records(REGIONS) + trailer(0x80000000, 4), 24)

            def close(self) -> None:
                self.closed = True

        body = Body()

        def answer(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/capabilities":
                return httpx.Response(200, json=CAPABILITIES)
            return httpx.Response(200, stream=body)

        with Client(transport=httpx.MockTransport(answer)) as client, client.scan(1) as stream:
            next(stream.iter_raw() if raw else stream)
            assert not body.closed
        assert body.closed and not stream.complete

    def test_a_stream_is_an_iterator_read_once(self) -> None:
        with mock_client([records(REGIONS) + trailer(0x80000000, 4)]) as client:
            stream = client.scan(1)
            assert next(stream) == REGIONS[0]
            assert list(stream) == REGIONS[1:]
            assert list(stream) == []
            with pytest.raises(RuntimeError, match="read as regions"):
                stream.iter_raw()

    def test_paging_resumes_at_walk_end_until_a_short_page(self) -> None:
        seen: list[dict[str, object]] = []
        bodies = [
            records(REGIONS[:2]) + trailer(0x13000, 2),
            records(REGIONS[2:4]) + trailer(0x80000000, 2),
            trailer(0x90000000, 0),
        ]
        with mock_client(bodies, seen=seen) as client:
            stream = client.scan(7, start="0x10000", category_mask=["present"], regions_per_request=2)
            assert list(stream) == REGIONS
        assert [(b.get("start"), b["vec_len"]) for b in seen] == [
            ("0x10000", 2),
            (0x13000, 2),
            (0x80000000, 2),
        ]
        assert all(b["pid"] == 7 and b["category_mask"] == int(Category.PRESENT) for b in seen)
        assert (stream.walk_end, stream.regions, stream.requests) == (0x90000000, 4, 3)

    def test_paging_stops_at_the_callers_limits(self) -> None:
        seen: list[dict[str, object]] = []
        bodies = [records(REGIONS[:2]) + trailer(0x13000, 2), records(REGIONS[2:3]) + trailer(0x40000, 1)]
        with mock_client(bodies, seen=seen) as client:
            stream = client.scan(1, vec_len=3, max_pages=1000, regions_per_request=2)
            assert list(stream) == REGIONS[:3]
        assert [b["vec_len"] for b in seen] == [2, 1]
        assert [b["max_pages"] for b in seen] == [1000, 1000 - 3]

    def test_paging_stops_at_the_end_of_the_range(self) -> None:
        with mock_client([records(REGIONS[:2]) + trailer(0x13000, 2)]) as client:
            stream = client.scan(1, end=0x13000, regions_per_request=2)
            assert list(stream) == REGIONS[:2]
        assert stream.requests == 1
