"""``Client`` and ``AsyncClient`` against real servers, over TCP and a Unix socket, compared with
the server's own NDJSON answer and with a scan by the domain layer in this process."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import httpx
import pytest
from pmscan_client import (
    AsyncClient,
    Capabilities,
    Category,
    Client,
    MappingInfo,
    PageRegion,
    ProcessInfo,
    ServerError,
    Summary,
)

from app.pagemap import ScanOptions, iter_regions, open_scan
from tests.support.server import ServerProcess
from tests.support.target import Area, Target

PAGE = os.sysconf("SC_PAGE_SIZE")


def ndjson_answer(server: ServerProcess, body: dict[str, object]) -> tuple[list[PageRegion], dict[str, int]]:
    """The server's NDJSON answer to ``body``, as regions and its trailer."""
    with server.client() as http:
        response = http.post("/scan", json=body)
    response.raise_for_status()
    lines = [json.loads(line) for line in response.text.splitlines()]
    *regions, trailer = lines
    return [
        PageRegion(r["start"], r["end"], Category(sum(Category[n] for n in r["categories"]))) for r in regions
    ], trailer


def domain_answer(pid: int, start: int, end: int) -> list[PageRegion]:
    """The same scan by ``app.pagemap`` in this process."""
    scan = open_scan(pid, ScanOptions(start=start, end=end))
    try:
        return [PageRegion(r.start, r.end, Category(int(r.categories))) for r in iter_regions(scan.run())]
    finally:
        scan.close()


class TestScanAgainstServerAndDomain:
    def test_a_plain_scan_equals_the_ndjson_answer_and_the_domain_scan(
        self, client: Client, server: ServerProcess, target: Target, patterned: Area
    ) -> None:
        stream = client.scan(target.pid, start=patterned.start, end=patterned.end)
        regions = list(stream)
        expected, trailer = ndjson_answer(
            server, {"pid": target.pid, "start": patterned.start, "end": patterned.end}
        )
        assert len(regions) > 2000
        assert regions == expected == domain_answer(target.pid, patterned.start, patterned.end)
        assert (stream.walk_end, stream.regions, stream.pages) == (
            trailer["walk_end"],
            trailer["regions"],
            trailer["pages"],
        )
        assert stream.walk_end == patterned.end

    def test_filters_and_return_mask(
        self, client: Client, server: ServerProcess, target: Target, patterned: Area
    ) -> None:
        stream = client.scan(
            target.pid,
            start=hex(patterned.start),
            end=patterned.end,
            category_mask=["present", "pfnzero"],
            category_inverted=Category.PFNZERO,
            return_mask=Category.PRESENT | Category.PFNZERO,
        )
        regions = list(stream)
        expected, _ = ndjson_answer(
            server,
            {
                "pid": target.pid,
                "start": patterned.start,
                "end": patterned.end,
                "category_mask": ["PRESENT", "PFNZERO"],
                "category_inverted": ["PFNZERO"],
                "return_mask": ["PRESENT", "PFNZERO"],
            },
        )
        assert regions == expected
        assert [r.start for r in regions] == [target.page(patterned, i) for i in range(1, 8 * 64, 64)]
        assert all(r.categories == Category.PRESENT for r in regions)
        assert stream.pages == 8

    def test_max_pages_and_vec_len_cut_the_answer(
        self, client: Client, target: Target, patterned: Area
    ) -> None:
        stream = client.scan(target.pid, start=patterned.start, end=patterned.end, vec_len=10)
        assert len(list(stream)) == 10 and stream.walk_end is not None and stream.walk_end < patterned.end
        stream = client.scan(target.pid, start=patterned.start, end=patterned.end, max_pages=7)
        list(stream)
        assert stream.pages == 7

    @pytest.mark.parametrize("per_request", [1, 100, 4000])
    def test_paging_returns_the_same_regions(
        self, client: Client, target: Target, patterned: Area, per_request: int
    ) -> None:
        whole = list(client.scan(target.pid, start=patterned.start, end=patterned.end))
        if per_request == 1:  # one request per region: keep it short
            whole = whole[:50]
            end = whole[-1].end
        else:
            end = patterned.end
        stream = client.scan(target.pid, start=patterned.start, end=end, regions_per_request=per_request)
        assert list(stream) == whole
        assert stream.requests >= -(-len(whole) // per_request)
        assert stream.walk_end == end

    def test_paging_with_the_default_range(self, client: Client, target: Target, patterned: Area) -> None:
        paged = client.scan(target.pid, category_mask=Category.PRESENT, regions_per_request=500)
        whole = client.scan(target.pid, category_mask=Category.PRESENT)
        assert list(paged) == list(whole)
        assert paged.requests > 1 and paged.walk_end == whole.walk_end

    def test_iter_raw(self, client: Client, target: Target, patterned: Area) -> None:
        regions = list(client.scan(target.pid, start=patterned.start, end=patterned.end))
        raw = b"".join(client.scan(target.pid, start=patterned.start, end=patterned.end).iter_raw())
        assert raw == b"".join(int(x).to_bytes(8, "little") for r in regions for x in r)

    def test_stopping_early_closes_the_stream(self, client: Client, target: Target, patterned: Area) -> None:
        with client.scan(target.pid, start=patterned.start, end=patterned.end) as stream:
            first = next(stream)
        assert first.start == patterned.start and not stream.complete
        assert client.capabilities().page_size == PAGE  # the connection is usable again

    def test_over_the_unix_socket(self, uds_server: ServerProcess, target: Target, patterned: Area) -> None:
        assert uds_server.uds is not None
        with Client(uds=str(uds_server.uds)) as client:
            regions = list(client.scan(target.pid, start=patterned.start, end=patterned.end))
        assert regions == domain_answer(target.pid, patterned.start, patterned.end)


class TestOtherCalls:
    def test_summary_counts_the_pages_the_scan_returns(
        self, client: Client, target: Target, patterned: Area
    ) -> None:
        summary = client.summary(target.pid, start=patterned.start, end=patterned.end)
        regions = list(client.scan(target.pid, start=patterned.start, end=patterned.end))
        assert isinstance(summary, Summary) and summary.vmas is None
        assert summary.pages == sum(r.pages(PAGE) for r in regions) == patterned.size // PAGE
        for category, pages in summary.categories.items():
            assert pages == sum(r.pages(PAGE) for r in regions if r.categories & category)
        assert summary.categories[Category.PFNZERO] == 2048

    def test_summary_by_vma(self, client: Client, target: Target, patterned: Area) -> None:
        summary = client.summary(target.pid, by_vma=True, category_mask=Category.PRESENT)
        assert summary.vmas is not None
        (vma,) = [v for v in summary.vmas if v.start == patterned.start]
        assert (vma.end, vma.pages, vma.categories[Category.PFNZERO]) == (patterned.end, 2048 + 8, 2048)

    def test_processes_maps_capabilities(self, client: Client, target: Target, patterned: Area) -> None:
        processes = client.processes(comm="pmtarget", uid=os.getuid())
        assert target.pid in {p.pid for p in processes} and all(isinstance(p, ProcessInfo) for p in processes)
        mappings = client.maps(target.pid)
        assert all(isinstance(m, MappingInfo) for m in mappings)
        proc_maps = Path(f"/proc/{target.pid}/maps").read_text().splitlines()
        assert [m.start for m in mappings] == [int(line.split("-")[0], 16) for line in proc_maps]
        capabilities = client.capabilities()
        assert isinstance(capabilities, Capabilities) and capabilities.page_size == PAGE

    def test_clear_soft_dirty(self, client: Client, target: Target) -> None:
        client.clear_soft_dirty(target.pid)  # 204, nothing to return

    def test_environment_and_explicit_options(
        self, server: ServerProcess, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PMSCAN_URL", server.url)
        monkeypatch.setenv("PMSCAN_UDS", "/nonexistent.sock")
        with Client.from_env(url=server.url) as client:
            assert client.capabilities().page_size == PAGE
        monkeypatch.delenv("PMSCAN_UDS")
        with Client.from_env() as client:
            assert client.connection.url == server.url


class TestAsyncClient:
    def test_the_same_answers(
        self, server: ServerProcess, client: Client, target: Target, patterned: Area
    ) -> None:
        async def ask() -> tuple[list[PageRegion], list[PageRegion], Summary, int | None]:
            async with AsyncClient(server.url) as node:
                stream = node.scan(target.pid, start=patterned.start, end=patterned.end)
                regions = [r async for r in stream]
                paged = node.scan(
                    target.pid, start=patterned.start, end=patterned.end, regions_per_request=1000
                )
                async with paged:
                    paged_regions = [r async for r in paged]
                summary = await node.summary(target.pid, start=patterned.start, end=patterned.end)
                return regions, paged_regions, summary, stream.walk_end

        regions, paged, summary, walk_end = asyncio.run(ask())
        expected = list(client.scan(target.pid, start=patterned.start, end=patterned.end))
        assert regions == paged == expected and walk_end == patterned.end
        assert summary == client.summary(target.pid, start=patterned.start, end=patterned.end)

    def test_raw_chunks_over_the_unix_socket(
        self, uds_server: ServerProcess, target: Target, patterned: Area
    ) -> None:
        async def ask() -> bytes:
            async with AsyncClient(uds=str(uds_server.uds)) as node:
                return b"".join(
                    [
                        c
                        async for c in node.scan(
                            target.pid, start=patterned.start, end=patterned.end
                        ).aiter_raw()
                    ]
                )

        assert len(asyncio.run(ask())) == 24 * len(domain_answer(target.pid, patterned.start, patterned.end))


def test_mock_transport_injection() -> None:
    """Tests of code using the SDK need no server: inject a transport."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"pid": 1, "comm": "init", "uid": 0, "rss_bytes": 4096}])

    with Client(transport=httpx.MockTransport(answer)) as client:
        assert client.processes() == [ProcessInfo(pid=1, comm="init", uid=0, rss_bytes=4096)]


def test_an_answer_the_models_cannot_read_is_a_server_error() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"pid": 1}])

    with (
        Client(transport=httpx.MockTransport(answer)) as client,
        pytest.raises(ServerError, match="match the API"),
    ):
        client.processes()
