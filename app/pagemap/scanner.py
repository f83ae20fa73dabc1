"""A scan of one process as a sequence of bounded chunks of page_region records.

The kernel is called with a bounded buffer again and again, resuming at the corrected
``walk_end`` (kernel-notes 1-2), so memory stays bounded however large the result.
Regions are never split at those internal boundaries: the last record of a chunk that
ends at ``walk_end`` is held back until the next one shows whether it continues.
"""

from __future__ import annotations

import time

from . import _pagemap
from .backends import Backend, ScanArgs
from .exceptions import ProcessGone, ScanTimeout
from .process import TargetProcess
from .region import RECORD

__all__ = ["DEFAULT_CHUNK_RECORDS", "Scan"]

RECORD_SIZE = _pagemap.RECORD_SIZE
#: Records per kernel call: 32768 x 24 bytes = 768 KiB per chunk. Fewer, larger chunks mean
#: fewer hops between a scan thread and the event loop, so a large answer takes less time, for
#: more memory per running stream (``bench/scan_bench.py`` times answers and bounds the growth).
DEFAULT_CHUNK_RECORDS = 32768
#: The first call asks for fewer: the answer starts sooner, and a server sends it while the
#: next, larger chunks are scanned. Chunks double up to ``chunk_records``.
FIRST_CHUNK_RECORDS = 1024


class Scan:
    """One scan in progress. Call :meth:`next_chunk` (it blocks; run it in a worker
    thread) until :attr:`done`; then :attr:`walk_end`, :attr:`regions` and
    :attr:`pages` describe the whole answer.

    Raises the domain exceptions of the backend, ``ProcessGone`` when the target
    exited during the scan (its answer would look empty and complete, and is not), and
    ``ScanTimeout`` when a kernel call would start after ``deadline`` (a
    ``time.monotonic()`` value; one call already running is never cut short).

    ``span_pages`` (0: no bound) bounds each kernel call to that many matching pages: the
    kernel holds the target's mmap read lock for a whole call over a dense range
    (kernel-notes 17), so an agent scanning a large process bounds each hold with it. Without
    a category filter every page of a mapping matches, so it bounds the address range each
    call walks (gaps between mappings cost nothing and count for nothing).
    """

    def __init__(
        self,
        target: TargetProcess,
        args: ScanArgs,
        backend: Backend,
        *,
        chunk_records: int = DEFAULT_CHUNK_RECORDS,
        deadline: float | None = None,
        span_pages: int = 0,
    ) -> None:
        if chunk_records <= 0:
            raise ValueError("chunk_records must be positive")
        if span_pages < 0:
            raise ValueError("span_pages must not be negative")
        self.target = target
        self.args = args
        self.backend = backend
        self.walk_end = args.start
        self.regions = 0
        self.pages = 0
        self.done = False
        self._chunk = chunk_records
        self._chunk_now = min(chunk_records, FIRST_CHUNK_RECORDS)
        self._deadline = deadline
        self._span_pages = span_pages
        self._discard = args.vec_len == 0
        self._held = b""

    def next_chunk(self) -> bytes:
        """The next records ready to send (possibly empty only when ``done``)."""
        while not self.done:
            if self._deadline is not None and time.monotonic() > self._deadline:
                raise ScanTimeout(f"the scan of process {self.target.pid} exceeded its time limit")
            ready = self._step()
            if ready:
                return ready
        return b""

    def close(self) -> None:
        """Release the target's file descriptors (the scan cannot go on)."""
        self.target.close()

    def run(self) -> bytes:
        """The whole answer at once (for callers that need it all anyway)."""
        return b"".join(iter(self.next_chunk, b""))

    def _remaining_regions(self) -> int:
        if self.args.vec_len is None or self._discard:
            return self._chunk_now
        return min(self._chunk_now, self.args.vec_len - self.regions)

    def _remaining_pages(self) -> int | None:
        """Pages still allowed by max_pages: 0 means no limit, None means none left.

        ``max_pages`` is any u64 (2^64-1: no limit in effect), so ``left`` stays one too.
        Without an output vector (``vec_len`` 0) the kernel counts no page against ``max_pages``
        (``pagemap_scan_output()`` returns before counting): the walk runs to ``end`` whatever
        ``max_pages`` says, and so does this one.
        """
        if not self.args.max_pages or self._discard:
            return 0
        left = self.args.max_pages - self.pages
        return left if left > 0 else None

    def _step(self) -> bytes:
        vec_len = self._remaining_regions()
        max_pages = self._remaining_pages()
        if vec_len <= 0 or max_pages is None:
            return self._finish(self._resume_point_after_limit())
        if self._span_pages and (max_pages == 0 or max_pages > self._span_pages):
            max_pages = self._span_pages
        start = self.walk_end
        records, walk_end, pages = self.backend.scan(
            self.target, start, self.args, max_pages=max_pages, vec_len=vec_len
        )
        self.pages += pages
        self.walk_end = walk_end
        self._chunk_now = min(self._chunk_now * 2, self._chunk)
        ready = b"" if self._discard else self._append(records, walk_end)
        if walk_end >= self.args.end:
            return _joined(ready, self._finish(self.args.end))
        if walk_end <= start and not records:
            # No progress (a partial hugetlb page under WP_MATCHING stops every walk
            # there, kernel-notes 8): the truth is that the walk ends here.
            return _joined(ready, self._finish(walk_end))
        return ready

    def _append(self, records: bytes, walk_end: int) -> bytes:
        """Merge with the held-back record; hold back the new last one if the next chunk may
        continue it; return the rest.

        The next chunk starts at ``walk_end``, so only a last record that ends there can go on
        in it. The kernel fills its buffer up to a page it cannot merge into the last record,
        so in a large answer that record mostly ends before ``walk_end``: the chunk is then the
        kernel's own ``bytes``, handed on uncopied (a fresh object each call: nothing reuses it).
        """
        if not records:
            return b""
        self.regions += len(records) // RECORD_SIZE
        held = self._held
        rest = memoryview(records)  # slices of it copy nothing: each chunk is copied at most once
        if held:
            h_start, h_end, h_categories = RECORD.unpack(held)
            r_start, r_end, r_categories = RECORD.unpack_from(records)
            if h_end == r_start and h_categories == r_categories:
                held = RECORD.pack(h_start, r_end, h_categories)
                rest = rest[RECORD_SIZE:]
                self.regions -= 1
        if not rest:
            self._held = held
            return b""
        _, last_end, _ = RECORD.unpack_from(rest, len(rest) - RECORD_SIZE)
        if last_end < walk_end:
            self._held = b""
            return b"".join((held, rest)) if held else records
        self._held = bytes(rest[-RECORD_SIZE:])
        return b"".join((held, rest[:-RECORD_SIZE]))

    def _resume_point_after_limit(self) -> int:
        """vec_len or max_pages is used up: is anything matching left in the range?

        ``walk_end`` must equal ``end`` when nothing remains (docs/api.md), so look once
        more, without write-protecting, for a single matching page.
        """
        position = self.walk_end
        if position >= self.args.end:
            return self.args.end
        records, walk_end, _ = self.backend.scan(
            self.target, position, self.args.without_side_effects(), max_pages=1, vec_len=1
        )
        if not records and walk_end >= self.args.end:
            return self.args.end
        return position

    def _finish(self, walk_end: int) -> bytes:
        self.done = True
        self.walk_end = walk_end
        if not self.target.alive():
            raise ProcessGone(f"process {self.target.pid} exited during the scan")
        held, self._held = self._held, b""
        return held


def _joined(first: bytes, second: bytes) -> bytes:
    """``first + second``, without copying either when the other is empty."""
    if not second:
        return first
    return second if not first else first + second
