"""``Client.scan_records()`` and its async twin: the whole answer as a ``RegionArray`` of the
kernel's records, compared with the kernel's own answer (the target scans itself) and with
``Client.scan()``; its columns are views of the same memory."""

from __future__ import annotations

import asyncio
import importlib.util
import struct

import pytest
from pmscan_client import AsyncClient, Category, Client, PageRegion, ProcessNotFound, RegionArray

from tests.support.server import ServerProcess
from tests.support.target import Area, Target

RECORD = struct.Struct("<QQQ")


class TestAgainstTheKernel:
    def test_records_are_the_kernels_own(self, client: Client, target: Target, patterned: Area) -> None:
        regions = client.scan_records(target.pid, start=patterned.start, end=patterned.end)
        _, expected = target.kernel_scan(patterned.start, patterned.end, vec_len=1 << 14)
        assert isinstance(regions, RegionArray)
        assert len(regions) == len(expected) > 2000
        assert list(RECORD.iter_unpack(regions.records)) == expected
        assert regions.walk_end == patterned.end
        assert regions.pages == sum(end - start for start, end, _ in expected) // target.page_size

    def test_same_regions_as_scan(self, client: Client, target: Target, patterned: Area) -> None:
        options = {"start": patterned.start, "end": patterned.end, "category_mask": Category.PRESENT}
        stream = client.scan(target.pid, **options)  # type: ignore[arg-type]
        regions = client.scan_records(target.pid, **options)  # type: ignore[arg-type]
        assert list(regions) == list(stream)
        assert (regions.walk_end, len(regions), regions.pages) == (
            stream.walk_end,
            stream.regions,
            stream.pages,
        )

    @pytest.mark.parametrize("per_request", [7, 1000])
    def test_paging_gives_the_same_records(
        self, client: Client, target: Target, patterned: Area, per_request: int
    ) -> None:
        whole = client.scan_records(target.pid, start=patterned.start, end=patterned.end)
        paged = client.scan_records(
            target.pid,
            start=patterned.start,
            end=patterned.end,
            regions_per_request=per_request,
            vec_len=3000,
        )
        assert bytes(paged.records) == bytes(whole.records[: 3000 * RECORD.size])
        assert paged.walk_end == whole[2999].end

    def test_async_twin(self, server: ServerProcess, target: Target, patterned: Area) -> None:
        async def scan() -> RegionArray:
            async with AsyncClient(server.url) as node:
                return await node.scan_records(target.pid, start=patterned.start, end=patterned.end)

        regions = asyncio.run(scan())
        _, expected = target.kernel_scan(patterned.start, patterned.end, vec_len=1 << 14)
        assert list(RECORD.iter_unpack(regions.records)) == expected

    def test_errors_are_the_sdks(self, client: Client) -> None:
        with pytest.raises(ProcessNotFound):
            client.scan_records(4194304)


class TestViews:
    @pytest.fixture
    def regions(self, client: Client, target: Target, patterned: Area) -> RegionArray:
        return client.scan_records(target.pid, start=patterned.start, end=patterned.end)

    def test_columns_are_views_of_the_records(self, regions: RegionArray) -> None:
        records = list(RECORD.iter_unpack(regions.records))
        assert regions.starts.tolist() == [r[0] for r in records]
        assert regions.ends.tolist() == [r[1] for r in records]
        assert regions.categories.tolist() == [r[2] for r in records]
        assert regions.starts.obj is regions.records.obj  # the same memory, not a copy

    def test_sequence(self, regions: RegionArray) -> None:
        first, last = regions[0], regions[-1]
        assert isinstance(first, PageRegion) and isinstance(first.categories, Category)
        assert (first.start, last.end) == (regions.starts[0], regions.ends[-1])
        part = regions[10:20]
        assert isinstance(part, RegionArray) and list(part) == list(regions)[10:20]
        assert part.walk_end == regions[19].end and regions[5:].walk_end == regions.walk_end
        with pytest.raises(IndexError):
            regions[len(regions)]

    @pytest.mark.skipif(importlib.util.find_spec("numpy") is None, reason="numpy is optional, not installed")
    def test_numpy_on_the_same_memory(self, regions: RegionArray) -> None:
        array = regions.numpy()
        assert array.shape == (len(regions), 3)
        assert array[:, 0].tolist() == regions.starts.tolist()

    def test_without_numpy_it_says_so(self, regions: RegionArray) -> None:
        if importlib.util.find_spec("numpy") is not None:
            pytest.skip("numpy is installed here")
        with pytest.raises(ImportError, match="numpy"):
            regions.numpy()
