"""The exporter's count of one process: the same whatever the span that bounds each kernel
call, each call within it, and the same regions as the kernel's one-call answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.pagemap import (
    Category,
    IoctlBackend,
    ProcessGone,
    ProcessNotFound,
    Scan,
    ScanArgs,
    TargetProcess,
    probe,
)
from app.pagemap.census import count_process
from app.pagemap.region import RECORD
from app.pagemap.summary import summarize
from tests.support.children import zombie
from tests.support.target import Target

EXPORTED = Category.PRESENT | Category.SWAPPED | Category.HUGE | Category.PFNZERO


class CountingBackend(IoctlBackend):
    """The kernel's ioctl, recording the pages of each call."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def scan(
        self, target: TargetProcess, start: int, args: ScanArgs, *, max_pages: int, vec_len: int
    ) -> tuple[bytes, int, int]:
        answer = super().scan(target, start, args, max_pages=max_pages, vec_len=vec_len)
        self.calls.append(answer[2])
        return answer


@pytest.fixture
def layout(target: Target, tmp_path: Path) -> Target:
    dense = target.anon("dense", 4096)  # 16 MiB written
    target.write(dense, 0, 4096)
    target.read(target.anon("zero", 512), 0, 256, 2)
    target.thp("thp", 8)
    file = target.file("file", tmp_path / "data", 256)
    target.write(file, 0, 128)
    return target


class TestSpan:
    @pytest.mark.parametrize("span_pages", [1, 100, 512, 4096])
    def test_counts_do_not_depend_on_the_span(self, layout: Target, span_pages: int) -> None:
        page_size = layout.page_size
        whole = count_process(layout.pid, categories=EXPORTED, page_size=page_size, span_pages=0)
        spanned = count_process(layout.pid, categories=EXPORTED, page_size=page_size, span_pages=span_pages)
        assert spanned == whole
        assert whole.by_category[Category.PRESENT] >= 4096 + 2048

    def test_each_kernel_call_walks_at_most_the_span(self, layout: Target) -> None:
        kernel = probe()
        span = 1024
        with TargetProcess(layout.pid) as process:
            low, high = process.mapped_range(kernel.user_address_limit)
            args = ScanArgs(start=low, end=high, return_mask=int(EXPORTED))
            backend = CountingBackend()
            scan = Scan(process, args, backend, span_pages=span)
            counted = summarize(scan, kernel.page_size).total
            backend_once = CountingBackend()
            once = Scan(process, args, backend_once, chunk_records=1 << 20)
            records = once.run()
        assert max(backend.calls) <= span
        assert len(backend.calls) >= counted.pages // span
        assert len(backend_once.calls) < len(backend.calls)
        assert counted.pages == sum(
            (end - start) // kernel.page_size for start, end, _ in RECORD.iter_unpack(records)
        )

    def test_a_process_that_exited_raises_what_the_exporter_skips(self) -> None:
        with zombie() as pid, pytest.raises(ProcessGone):
            count_process(pid, categories=EXPORTED, page_size=4096, span_pages=16)
        with pytest.raises(ProcessNotFound):
            count_process(pid, categories=EXPORTED, page_size=4096, span_pages=16)  # reaped
