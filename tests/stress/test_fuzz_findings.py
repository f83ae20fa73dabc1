"""What the fuzzer found (test_fuzz.py), each fixed at its root: one test per finding, on a real server.

1. A cgroup name longer than PATH_MAX under its mount point: ``stat`` fails with ENAMETOOLONG,
   which reached the client as a 500 (``GET /processes?cgroup=``, ``POST /summary``). Such a
   name names no cgroup: 404 (app/pagemap/cgroups/namespace.py ``check_exists``).
2. A body that ``json.loads`` refuses with another error than a syntax error (not UTF-8, an
   integer of more than 4300 digits, nesting deeper than the recursion limit) got FastAPI's
   undocumented 400; it is invalid JSON like any other: 422 ``json_invalid``
   (app/http/exception_handlers.py ``_http_error``).
3. A number JSON cannot carry back (``1e400`` reads as infinity; Python also reads ``NaN`` and
   ``Infinity``) made FastAPI's 422 handler fail on quoting the input: a 500 and a reset
   connection. The 422 quotes it as a string (app/http/exception_handlers.py ``_invalid_request``).
4. ``end`` below the lowest mapping with ``start`` left to its default made a reversed range that
   the kernel refused (EFAULT, answered as a 422 of the wrong shape). The range is empty: 200,
   nothing matching, ``walk_end == end`` (app/pagemap/session.py ``open_scan``).
5. A mask given as a float (``"flags": 398.0``) or a numeric string (``"398"``) skipped the check
   of its bits (pydantic's lax int conversion came after it): unknown bits reached the kernel,
   EINVAL, a 422 of the wrong shape. A float with no fraction is checked as the integer it is
   (JSON Schema calls 8.0 an integer); a string is refused (app/http/schemas.py ``_mask_of``).
6. ``true`` where an integer belongs was read as 1 (``{"pid": true}`` scanned process 1,
   ``"max_pages": true`` stopped after one page), and a numeric string as its number; ``by_vma``
   took 1 and ``"yes"``. The schema says integer and boolean: 422 (app/http/schemas.py
   ``ScanRequest._integer``, ``SummaryRequest.by_vma``).
7. Query and path parameters were read laxly: ``GET /processes?comm=null&comm=x&comm=y&uid=0.0``
   answered 200 ``[]`` — FastAPI kept the last ``comm``, pydantic read ``0.0`` (and ``+5``,
   ``5_0``, `` 5``) as an integer. A repeated single-valued parameter, and an integer not written
   in decimal digits, get a 422 naming the parameter (app/http/query.py).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.pagemap.cgroups import CgroupSpec, cgroup_directory
from tests.support.layout import Layout
from tests.support.server import ServerProcess

RECORD = struct.Struct("<QQQ")
#: Longer than PATH_MAX (4096) once under any mount point, and within the API's 4096 characters.
LONG_CGROUP = "/" + "0" * 4095


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def post_raw(http: httpx.Client, path: str, body: bytes) -> httpx.Response:
    return http.post(path, content=body, headers={"Content-Type": "application/json"})


class TestCgroupNameLongerThanPathMax:
    @pytest.fixture(autouse=True)
    def _mounted(self) -> None:
        if cgroup_directory(CgroupSpec("", "/")) is None:
            pytest.skip("no cgroup2 hierarchy mounted here: existence cannot be checked")

    def test_process_list(self, http: httpx.Client) -> None:
        response = http.get("/processes", params={"cgroup": LONG_CGROUP})
        assert response.status_code == 404, response.text
        assert response.json()["detail"]["code"] == "ENOENT"

    def test_summary(self, http: httpx.Client) -> None:
        response = http.post("/summary", json={"cgroup": LONG_CGROUP})
        assert response.status_code == 404, response.text


class TestBodiesJsonCannotRead:
    @pytest.mark.parametrize(
        "body",
        [
            pytest.param(b"\xff\x1b", id="not-utf-8"),
            pytest.param(b'{"pid": "\xe9"}', id="latin-1-string"),
            pytest.param(b'{"pid": 1' + b"0" * 5000 + b"}", id="5001-digit-integer"),
            pytest.param(b"[" * 30000 + b"]" * 30000, id="nested-30000-deep"),
        ],
    )
    @pytest.mark.parametrize("path", ["/scan", "/summary"])
    def test_invalid_json_is_422(self, http: httpx.Client, path: str, body: bytes) -> None:
        response = post_raw(http, path, body)
        assert response.status_code == 422, response.text
        (error,) = response.json()["detail"]
        assert error["type"] == "json_invalid"
        assert error["loc"] == ["body"]


class TestNumbersJsonCannotCarry:
    @pytest.mark.parametrize(
        ("text", "quoted"),
        [("1e400", "Infinity"), ("-1e400", "-Infinity"), ("NaN", "NaN"), ("Infinity", "Infinity")],
    )
    @pytest.mark.parametrize("field", ["pid", "start", "vec_len"])
    def test_quoted_in_the_422(
        self, http: httpx.Client, layout: Layout, field: str, text: str, quoted: str
    ) -> None:
        raw = f'{{"pid": {text}}}' if field == "pid" else f'{{"pid": {layout.pid}, "{field}": {text}}}'
        response = post_raw(http, "/scan", raw.encode())
        assert response.status_code == 422, response.text
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", field]
        assert error["input"] == quoted

    def test_the_connection_survives(self, http: httpx.Client, layout: Layout) -> None:
        assert post_raw(http, "/summary", b'{"pid": 1e400}').status_code == 422
        assert http.post("/summary", json={"pid": layout.pid}).status_code == 200


class TestEndBelowEveryMapping:
    END = 4096  # the first page: never mapped (vm.mmap_min_addr)

    def test_ndjson(self, http: httpx.Client, layout: Layout) -> None:
        response = http.post("/scan", json={"pid": layout.pid, "end": self.END})
        assert response.status_code == 200, response.text
        assert [json.loads(line) for line in response.text.splitlines()] == [
            {"walk_end": self.END, "regions": 0, "pages": 0}
        ]

    def test_json(self, http: httpx.Client, layout: Layout) -> None:
        response = http.post(
            "/scan", json={"pid": layout.pid, "end": 131}, headers={"Accept": "application/json"}
        )
        assert response.status_code == 200, response.text
        document = response.json()
        assert (document["start"], document["end"], document["walk_end"]) == (self.END, self.END, self.END)
        assert document["regions"] == [] and document["pages"] == 0

    def test_binary(self, http: httpx.Client, layout: Layout) -> None:
        response = http.post(
            "/scan", json={"pid": layout.pid, "end": self.END}, headers={"Accept": "application/octet-stream"}
        )
        assert response.status_code == 200, response.text
        assert list(RECORD.iter_unpack(response.content)) == [((1 << 64) - 1, self.END, 0)]

    def test_summary(self, http: httpx.Client, layout: Layout) -> None:
        response = http.post("/summary", json={"pid": layout.pid, "end": self.END, "max_pages": 5})
        assert response.status_code == 200, response.text
        summary = response.json()
        assert (summary["end"], summary["walk_end"], summary["pages"]) == (self.END, self.END, 0)


class TestMasksThatAreNotIntegers:
    @pytest.mark.parametrize(
        "field", ["flags", "category_mask", "category_inverted", "category_anyof_mask", "return_mask"]
    )
    @pytest.mark.parametrize("value", [4096.0, 1e30, "398", "8", 8.5])
    def test_422_naming_the_field(
        self, http: httpx.Client, layout: Layout, field: str, value: object
    ) -> None:
        response = http.post("/scan", json={"pid": layout.pid, field: value})
        assert response.status_code == 422, response.text
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", field]

    @pytest.mark.parametrize("path", ["/scan", "/summary"])
    def test_a_float_without_fraction_is_its_integer(
        self, http: httpx.Client, layout: Layout, path: str
    ) -> None:
        as_float = http.post(path, json={"pid": layout.pid, "category_mask": 8.0, "return_mask": 8.0})
        as_int = http.post(path, json={"pid": layout.pid, "category_mask": 8, "return_mask": 8})
        assert as_float.status_code == as_int.status_code == 200, as_float.text
        assert as_float.content == as_int.content


class TestIntegersAndBooleansAreThemselves:
    @pytest.mark.parametrize("path", ["/scan", "/summary"])
    @pytest.mark.parametrize("field", ["pid", "max_pages", "vec_len"])
    @pytest.mark.parametrize("value", [True, False, "1", "0x10"])
    def test_integer_fields(
        self, http: httpx.Client, layout: Layout, path: str, field: str, value: object
    ) -> None:
        response = http.post(path, json={"pid": layout.pid, field: value})
        assert response.status_code == 422, response.text
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", field]

    @pytest.mark.parametrize("value", [1, 0, "true", "yes"])
    def test_by_vma(self, http: httpx.Client, layout: Layout, value: object) -> None:
        response = http.post("/summary", json={"pid": layout.pid, "by_vma": value})
        assert response.status_code == 422, response.text
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", "by_vma"]

    def test_integral_floats_are_integers(self, http: httpx.Client, layout: Layout) -> None:
        response = http.post("/summary", json={"pid": float(layout.pid), "max_pages": 3.0, "by_vma": True})
        assert response.status_code == 200, response.text
        assert response.json()["pid"] == layout.pid


class TestQueryParametersAreStrict:
    def test_the_fuzzers_request(self, http: httpx.Client) -> None:
        response = http.get("/processes?comm=null&comm=sleep&comm=bash&uid=0.0")
        assert response.status_code == 422, response.text
        # A repeated parameter is refused before the values are read: the first error is comm's.
        assert [e["loc"] for e in response.json()["detail"]] == [["query", "comm"]]
        fixed = http.get("/processes?comm=null&uid=0.0")
        assert fixed.status_code == 422, fixed.text
        assert [e["loc"] for e in fixed.json()["detail"]] == [["query", "uid"]]

    @pytest.mark.parametrize("value", ["0.0", "+0", "0_0", " 0", "1e0", "0x0", "true"])
    def test_integers_in_decimal_digits(self, http: httpx.Client, value: str) -> None:
        response = http.get("/processes", params={"uid": value})
        assert response.status_code == 422, response.text
        assert [e["loc"] for e in response.json()["detail"]] == [["query", "uid"]]

    def test_a_repeated_parameter_is_named(self, http: httpx.Client) -> None:
        response = http.get("/processes?uid=0&uid=0")
        assert response.status_code == 422, response.text
        assert [e["loc"] for e in response.json()["detail"]] == [["query", "uid"]]

    @pytest.mark.parametrize("value", ["1.0", "+1", "1_0", "0x1"])
    def test_path_integers_too(self, http: httpx.Client, value: str) -> None:
        response = http.get(f"/processes/{value}/maps")
        assert response.status_code == 422, response.text
        assert [e["loc"] for e in response.json()["detail"]] == [["path", "pid"]]

    def test_the_same_filters_given_once_are_answered(self, http: httpx.Client) -> None:
        """The strict reading refuses only what is ambiguous: the filters still select."""
        comm = Path("/proc/self/comm").read_text().strip()
        response = http.get("/processes", params={"uid": str(os.getuid()), "comm": comm})
        assert response.status_code == 200, response.text
        assert os.getpid() in {p["pid"] for p in response.json()}
