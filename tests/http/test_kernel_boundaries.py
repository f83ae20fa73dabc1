"""Every count, mask and address of ``pm_scan_arg`` at its boundaries, over HTTP and from the kernel.

Issue 18: a program written against the ioctl must get the kernel's answers through ``/scan``. Each
case makes the raw ``ioctl(PAGEMAP_SCAN)`` with the very same fields (``tests.support.rawscan``: every
field a ``__u64``, as C sets it) on the target's pagemap, and asserts that HTTP agrees: the same
regions and ``walk_end`` where the kernel accepts the value, a 422 naming the field where the kernel
says ``EINVAL``/``EFAULT``. What the kernel does with each field is ``pagemap_scan_get_args()`` in
``fs/proc/task_mmu.c``:

- ``flags & ~PM_SCAN_FLAGS``, and any category field ``& ~PM_SCAN_CATEGORIES``: ``EINVAL``;
- ``start`` not page-aligned: ``EINVAL``; ``access_ok(start, end - start)`` (``end`` not yet
  rounded) fails, ``EFAULT``, for ``end < start`` and ``end`` past the user address limit, and
  passes for the empty range at the limit; then ``end = ALIGN(end, PAGE_SIZE)``;
- ``max_pages``: any ``__u64`` (0 becomes ``ULONG_MAX``);
- ``vec_len``: ``EINVAL`` without a vector, and ``access_ok(vec, size_mul(vec_len, 24))``: a count
  whose vector cannot fit below the limit (2^63, 2^64-1 for every ``vec``) is ``EFAULT``. HTTP has no
  vector (docs/api.md: "except where HTTP has no equivalent"): there, such a count is "no limit", the
  answer of the kernel to the largest vector it takes.

JSON has no ``-1`` for a ``__u64``, nor 2^64: those are 422s whose message says 2^64-1 is "no limit".
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.pagemap import Category, probe
from tests.support.rawscan import U64_MAX, RawAnswer, RawScanner
from tests.support.target import Area, Target

PAGE = probe().page_size
LIMIT = probe().user_address_limit
KNOWN = int(probe().categories)
PRESENT = int(Category.PRESENT)
#: The first bit past pmscan's vocabulary (and past every category this kernel knows:
#: tests/kernel/test_kernel_notes.py pins that set).
UNKNOWN_CATEGORY = 1 << len(Category)
JSON = {"Accept": "application/json"}

COUNTS_ACCEPTED = [0, 1, 1 << 40, 1 << 63, U64_MAX]
NOT_U64 = [1 << 64, -1]
ROUTES = ["/scan", "/summary", "/watch"]
WATCH = {"interval_seconds": 0.01, "count": 1}


@pytest.fixture
def raw(target: Target) -> Iterator[RawScanner]:
    with RawScanner(target.pid) as scanner:
        yield scanner


@pytest.fixture
def striped(target: Target) -> Area:
    """16 pages, every other one written: with ``category_mask`` PRESENT, 8 regions of one page."""
    area = target.anon("striped", 16)
    target.write(area, 0, 8, 2)
    return area


def document(http: httpx.Client, body: dict[str, Any]) -> RawAnswer:
    """``/scan`` as ``application/json``, in the kernel's terms (categories as a bitmask)."""
    response = http.post("/scan", json=body, headers=JSON)
    assert response.status_code == 200, response.text
    doc = response.json()
    regions = [(r["start"], r["end"], sum(Category[c] for c in r["categories"])) for r in doc["regions"]]
    if body.get("vec_len") != 0:  # with 0, pmscan counts the pages matched (docs/api.md, extensions)
        assert doc["pages"] == sum(e - s for s, e, _ in regions) // PAGE
    return RawAnswer(0, doc["walk_end"], regions)


def pages_of(answer: RawAnswer) -> int:
    return sum(e - s for s, e, _ in answer.regions) // PAGE


def refused(http: httpx.Client, route: str, body: dict[str, Any], field: str) -> str:
    """POST ``body`` to ``route``: a 422 whose errors name ``field``; returns their messages."""
    if route == "/watch":
        body = {**WATCH, **body}
    response = http.post(route, json=body)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [e for e in errors if field in e["loc"]], errors
    return " ".join(e["msg"] for e in errors)


def summary_pages(http: httpx.Client, route: str, body: dict[str, Any]) -> int:
    """``pages`` of ``/summary``, or of the one tick of ``/watch``."""
    if route == "/summary":
        response = http.post(route, json=body)
        assert response.status_code == 200, response.text
        return int(response.json()["pages"])
    response = http.post(route, json={**WATCH, **body})
    assert response.status_code == 200, response.text
    tick, trailer = (json.loads(line) for line in response.content.splitlines())
    assert trailer == {"ticks": 1}, trailer
    return int(tick["pages"])


# ---- max_pages -----------------------------------------------------------------------------------


class TestMaxPages:
    @pytest.mark.parametrize("max_pages", COUNTS_ACCEPTED, ids=["0", "1", "2^40", "2^63", "2^64-1"])
    def test_any_u64_gets_the_kernels_answer(
        self, http: httpx.Client, target: Target, raw: RawScanner, striped: Area, max_pages: int
    ) -> None:
        fields = {"category_mask": PRESENT, "return_mask": KNOWN, "max_pages": max_pages}
        kernel = raw.scan(striped.start, striped.end, vec_len=raw.capacity, **fields)
        assert kernel.errno == 0, "pagemap_scan_get_args: any max_pages (0 becomes ULONG_MAX)"
        assert len(kernel.regions) == (1 if max_pages == 1 else 8)
        body = {"pid": target.pid, "start": striped.start, "end": striped.end, **fields}
        assert document(http, body) == kernel
        for route in ("/summary", "/watch"):
            assert summary_pages(http, route, body) == pages_of(kernel), route

    @pytest.mark.parametrize("max_pages", NOT_U64, ids=["2^64", "-1"])
    @pytest.mark.parametrize("route", ROUTES)
    def test_beyond_u64_is_422_saying_what_means_no_limit(
        self, http: httpx.Client, target: Target, raw: RawScanner, route: str, max_pages: int
    ) -> None:
        area = target.anon("a", 1)
        with pytest.raises(ValueError, match="not a __u64"):
            raw.scan(area.start, area.end, max_pages=max_pages)  # C has no such value to pass
        message = refused(http, route, {"pid": target.pid, "max_pages": max_pages}, "max_pages")
        assert "2^64-1" in message and "no limit" in message, message

    def test_c_minus_one_is_2_64_minus_1(self, http: httpx.Client, target: Target, raw: RawScanner) -> None:
        """What C's ``max_pages = -1`` reaches the kernel as: the same answer as no limit."""
        area = target.anon("a", 8)
        target.write(area, 0, 8)
        fields = {"category_mask": PRESENT, "return_mask": KNOWN}
        c_minus_one = raw.scan(area.start, area.end, vec_len=8, max_pages=(-1) & U64_MAX, **fields)
        assert c_minus_one == raw.scan(area.start, area.end, vec_len=8, **fields)
        body = {"pid": target.pid, "start": area.start, "end": area.end, **fields}
        assert document(http, {**body, "max_pages": U64_MAX}) == c_minus_one

    def test_without_a_vector_max_pages_bounds_nothing(
        self, http: httpx.Client, target: Target, raw: RawScanner, striped: Area
    ) -> None:
        """``vec_len`` 0: ``pagemap_scan_output()`` returns before it counts a page, so the kernel
        walks to ``end`` whatever ``max_pages`` says; so does the service."""
        fields = {"category_mask": PRESENT, "return_mask": KNOWN, "max_pages": 1, "vec_len": 0}
        kernel = raw.scan(striped.start, striped.end, **fields)
        assert kernel == RawAnswer(0, striped.end, [])
        body = {"pid": target.pid, "start": striped.start, "end": striped.end, **fields}
        assert document(http, body) == kernel


# ---- vec_len -------------------------------------------------------------------------------------


class TestVecLen:
    @pytest.mark.parametrize("vec_len", [0, 1, 1 << 40], ids=["0", "1", "2^40"])
    def test_what_the_kernel_takes_gets_its_answer(
        self, http: httpx.Client, target: Target, raw: RawScanner, striped: Area, vec_len: int
    ) -> None:
        fields = {"category_mask": PRESENT, "return_mask": KNOWN}
        kernel = raw.scan(striped.start, striped.end, vec_len=vec_len, **fields)
        assert kernel.errno == 0
        assert len(kernel.regions) == min(vec_len, 8)
        body = {"pid": target.pid, "start": striped.start, "end": striped.end, "vec_len": vec_len, **fields}
        assert document(http, body) == kernel
        for route in ("/summary", "/watch"):
            # No region is reported with vec_len 0, and none is counted (the pages counted are
            # those of the regions: /summary's and /watch's counts are of the regions returned).
            assert summary_pages(http, route, body) == pages_of(kernel), route

    @pytest.mark.parametrize("vec_len", [1 << 63, U64_MAX], ids=["2^63", "2^64-1"])
    def test_more_than_a_vector_can_hold_means_no_limit(
        self, http: httpx.Client, target: Target, raw: RawScanner, striped: Area, vec_len: int
    ) -> None:
        """The kernel refuses these for any vector, with EFAULT: ``size_mul(vec_len, 24)`` saturates
        and ``access_ok()`` finds the vector past the user address limit. It is the vector's
        address range that is refused (EINVAL is the answer to a count it rejects): over HTTP,
        which has no vector, the count means no limit, the kernel's answer to the longest vector."""
        fields = {"category_mask": PRESENT, "return_mask": KNOWN}
        assert raw.scan(striped.start, striped.end, vec_len=vec_len, **fields).errno == errno.EFAULT
        longest = raw.scan(striped.start, striped.end, vec_len=1 << 40, **fields)
        assert longest.errno == 0 and len(longest.regions) == 8
        body = {"pid": target.pid, "start": striped.start, "end": striped.end, "vec_len": vec_len, **fields}
        assert document(http, body) == longest
        for route in ("/summary", "/watch"):
            assert summary_pages(http, route, body) == pages_of(longest), route

    def test_a_count_without_a_vector_is_einval(self, target: Target, raw: RawScanner, striped: Area) -> None:
        """The one count the kernel rejects as such (``!vec && vec_len``): HTTP has no vector."""
        answer = raw.scan(striped.start, striped.end, vec_len=1, with_vec=False)
        assert answer.errno == errno.EINVAL

    @pytest.mark.parametrize("vec_len", NOT_U64, ids=["2^64", "-1"])
    @pytest.mark.parametrize("route", ROUTES)
    def test_beyond_u64_is_422_saying_what_means_no_limit(
        self, http: httpx.Client, target: Target, raw: RawScanner, route: str, vec_len: int
    ) -> None:
        area = target.anon("a", 1)
        with pytest.raises(ValueError, match="not a __u64"):
            raw.scan(area.start, area.end, vec_len=vec_len)
        message = refused(http, route, {"pid": target.pid, "vec_len": vec_len}, "vec_len")
        assert "2^64-1" in message and "no limit" in message, message


# ---- masks and flags -----------------------------------------------------------------------------

MASKS = ["category_inverted", "category_mask", "category_anyof_mask", "return_mask"]


class TestMasks:
    @pytest.mark.parametrize("field", MASKS)
    def test_every_known_category_is_taken(
        self, http: httpx.Client, target: Target, raw: RawScanner, striped: Area, field: str
    ) -> None:
        fields = {"return_mask": KNOWN, field: KNOWN}
        kernel = raw.scan(striped.start, striped.end, vec_len=raw.capacity, **fields)
        assert kernel.errno == 0
        body = {"pid": target.pid, "start": striped.start, "end": striped.end, **fields}
        assert document(http, body) == kernel

    @pytest.mark.parametrize("bit", [UNKNOWN_CATEGORY, 1 << 63], ids=["first unknown", "bit 63"])
    @pytest.mark.parametrize("field", MASKS)
    def test_an_unknown_category_bit_is_einval_and_422(
        self, http: httpx.Client, target: Target, raw: RawScanner, field: str, bit: int
    ) -> None:
        area = target.anon("a", 1)
        fields = {"return_mask": KNOWN, field: KNOWN | bit}
        assert raw.scan(area.start, area.end, vec_len=1, **fields).errno == errno.EINVAL
        for route in ROUTES:
            refused(http, route, {"pid": target.pid, "start": area.start, "end": area.end, **fields}, field)

    @pytest.mark.parametrize("field", MASKS)
    def test_a_mask_beyond_u64_is_422(self, http: httpx.Client, target: Target, field: str) -> None:
        refused(http, "/scan", {"pid": target.pid, field: 1 << 64}, field)


class TestFlags:
    @pytest.mark.parametrize("bit", [1 << 2, 1 << 63], ids=["first unknown", "bit 63"])
    def test_an_unknown_flag_bit_is_einval_and_422(
        self, http: httpx.Client, target: Target, raw: RawScanner, bit: int
    ) -> None:
        area = target.anon("a", 1)
        assert raw.scan(area.start, area.end, vec_len=1, flags=bit).errno == errno.EINVAL
        for route in ROUTES:
            refused(
                http, route, {"pid": target.pid, "start": area.start, "end": area.end, "flags": bit}, "flags"
            )

    def test_wp_matching_outside_async_wp_matches_nothing(
        self, http: httpx.Client, target: Target, raw: RawScanner, striped: Area
    ) -> None:
        fields = {"flags": 1, "category_mask": int(Category.WRITTEN), "return_mask": KNOWN, "vec_len": 64}
        kernel = raw.scan(striped.start, striped.end, **fields)
        assert kernel == RawAnswer(0, striped.end, [])
        body = {"pid": target.pid, "start": striped.start, "end": striped.end, **fields}
        assert document(http, body) == kernel

    @pytest.mark.parametrize("flags", [2, 3], ids=["CHECK_WPASYNC", "WP_MATCHING|CHECK_WPASYNC"])
    @pytest.mark.parametrize("route", ROUTES)
    def test_check_wpasync_is_eperm_and_409_saying_why(  # noqa: PLR0917 (pytest's parameters)
        self, http: httpx.Client, target: Target, raw: RawScanner, striped: Area, route: str, flags: int
    ) -> None:
        """Issue 18, item 9: the 409 says what CHECK_WPASYNC met, not only "Operation not permitted"."""
        fields = {"flags": flags, "category_mask": int(Category.WRITTEN)}
        assert raw.scan(striped.start, striped.end, vec_len=raw.capacity, **fields).errno == errno.EPERM
        body = {"pid": target.pid, "start": striped.start, "end": striped.end, **fields}
        response = http.post(route, json={**WATCH, **body} if route == "/watch" else body)
        assert response.status_code == 409, response.text
        detail = response.json()["detail"]
        assert detail["code"] == "EPERM"
        assert "without async write-protection" in detail["message"], detail
        assert "userfaultfd" in detail["message"] and "WP_ASYNC" in detail["message"], detail
        assert "Operation not permitted" not in detail["message"], detail


# ---- start and end -------------------------------------------------------------------------------


class TestAddresses:
    def test_unaligned_start_is_einval_and_422(
        self, http: httpx.Client, target: Target, raw: RawScanner, striped: Area
    ) -> None:
        assert raw.scan(striped.start + 1, striped.end).errno == errno.EINVAL
        for route in ROUTES:
            refused(http, route, {"pid": target.pid, "start": striped.start + 1, "end": striped.end}, "start")

    def test_unaligned_end_is_rounded_up(
        self, http: httpx.Client, target: Target, raw: RawScanner, striped: Area
    ) -> None:
        fields = {"return_mask": KNOWN}
        kernel = raw.scan(striped.start, striped.end - PAGE + 1, vec_len=raw.capacity, **fields)
        assert kernel.errno == 0 and kernel.regions[-1][1] == striped.end
        body = {"pid": target.pid, "start": striped.start, "end": striped.end - PAGE + 1, **fields}
        assert document(http, body) == kernel

    @pytest.mark.parametrize(
        ("start", "end", "field"),
        [
            (2 * PAGE, PAGE, "end"),  # end < start
            (2 * PAGE, 2 * PAGE - 1, "end"),  # end < start, although it would round up to start
            (LIMIT - PAGE, LIMIT + 1, "end"),  # end past the limit (before rounding)
            (LIMIT + PAGE, LIMIT + PAGE, "start"),  # an empty range past the limit
            (LIMIT, LIMIT + PAGE, "end"),
        ],
        ids=[
            "end below start",
            "end below start by a byte",
            "end past the limit",
            "start past the limit",
            "end past the limit from it",
        ],
    )
    def test_efault_is_422(  # noqa: PLR0917 (pytest's parameters)
        self, http: httpx.Client, target: Target, raw: RawScanner, start: int, end: int, field: str
    ) -> None:
        assert raw.scan(start, end).errno == errno.EFAULT
        for route in ROUTES:
            refused(http, route, {"pid": target.pid, "start": start, "end": end}, field)

    @pytest.mark.parametrize(
        ("start", "end"),
        [(LIMIT, LIMIT), (LIMIT - PAGE, LIMIT), (LIMIT - PAGE, LIMIT - 1), (PAGE, PAGE), (0, 0)],
        ids=["empty at the limit", "last page", "last page, end unaligned", "empty", "empty at 0"],
    )
    def test_ranges_up_to_the_limit_are_taken(
        self, http: httpx.Client, target: Target, raw: RawScanner, start: int, end: int
    ) -> None:
        kernel = raw.scan(start, end, vec_len=raw.capacity, return_mask=KNOWN)
        assert kernel.errno == 0 and kernel.walk_end == -(-end // PAGE) * PAGE
        body = {"pid": target.pid, "start": start, "end": end, "return_mask": KNOWN}
        assert document(http, body) == kernel
        for route in ("/summary", "/watch"):
            assert summary_pages(http, route, body) == pages_of(kernel), route

    def test_start_at_the_limit_without_end(self, http: httpx.Client, target: Target) -> None:
        """The default end is the highest mapped end at or below the limit, or start when that is
        lower: the empty range the kernel takes."""
        response = http.post("/scan", json={"pid": target.pid, "start": LIMIT}, headers=JSON)
        assert response.status_code == 200, response.text
        assert response.json() | {"regions": None} == {
            "pid": target.pid,
            "start": LIMIT,
            "end": LIMIT,
            "walk_end": LIMIT,
            "regions": None,
            "pages": 0,
        }
