"""Bad input gets a 422 that names the field, before any kernel call, and never harms the
target (kernel-notes 14b: the service rejects what the kernel would reject, itself)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.pagemap import probe
from tests.support.target import Target

LIMIT = probe().user_address_limit
PAGE = probe().page_size

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("pid missing", {}, "pid"),
    ("pid zero", {"pid": 0}, "pid"),
    ("pid negative", {"pid": -5}, "pid"),
    ("pid not a number", {"pid": "self"}, "pid"),
    ("pid too large", {"pid": 1 << 40}, "pid"),
    ("start unaligned", {"start": PAGE + 1}, "start"),
    ("start not hex", {"start": "12345"}, "start"),
    ("start bad hex", {"start": "0xZZ"}, "start"),
    ("start negative", {"start": -PAGE}, "start"),
    ("start beyond the user limit", {"start": LIMIT + PAGE}, "start"),
    ("start a boolean", {"start": True}, "start"),
    ("end below start", {"start": 4 * PAGE, "end": 2 * PAGE}, "end"),
    ("end beyond the user limit", {"end": LIMIT + PAGE}, "end"),
    ("end rounds past the limit", {"end": LIMIT + 1}, "end"),
    ("end beyond u64", {"end": 1 << 64}, "end"),
    ("unknown flag name", {"flags": ["WP_ALL"]}, "flags"),
    ("unknown flag bit", {"flags": 4}, "flags"),
    ("unknown category name", {"category_mask": ["DIRTY"]}, "category_mask"),
    ("unknown category bit", {"category_anyof_mask": 1 << 20}, "category_anyof_mask"),
    ("negative mask", {"category_inverted": -1}, "category_inverted"),
    ("mask of mixed types", {"return_mask": ["PRESENT", 3]}, "return_mask"),
    ("mask a boolean", {"category_mask": True}, "category_mask"),
    ("negative max_pages", {"max_pages": -1}, "max_pages"),
    ("max_pages beyond u64", {"max_pages": 1 << 64}, "max_pages"),
    ("max_pages a string", {"max_pages": "5"}, "max_pages"),
    ("max_pages a boolean", {"max_pages": True}, "max_pages"),
    ("negative vec_len", {"vec_len": -1}, "vec_len"),
    ("vec_len beyond u64", {"vec_len": 1 << 64}, "vec_len"),
    ("vec_len fractional", {"vec_len": 1.5}, "vec_len"),
    ("unknown backend", {"backend": "magic"}, "backend"),
    ("unknown field", {"walk_end": 0}, "walk_end"),
]


@pytest.mark.parametrize(("body", "field"), [(b, f) for _, b, f in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize("route", ["/scan", "/summary"])
def test_422_names_the_field(
    http: httpx.Client, target: Target, route: str, body: dict[str, Any], field: str
) -> None:
    body = {"pid": target.pid, **body} if "pid" not in body and body != {} else body
    response = http.post(route, json=body)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(field in error["loc"] for error in errors), errors
    assert all(error.get("msg") for error in errors)
    assert target.anon("alive", 1).start, "the target is unharmed and still answers"


def test_not_json(http: httpx.Client, target: Target) -> None:
    response = http.post("/scan", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422


def test_body_not_an_object(http: httpx.Client) -> None:
    response = http.post("/scan", json=[1, 2, 3])
    assert response.status_code == 422


def test_hex_and_int_addresses_are_the_same(http: httpx.Client, target: Target) -> None:
    area = target.anon("a", 4)
    target.write(area, 0, 4)
    as_int = http.post("/scan", json={"pid": target.pid, "start": area.start, "end": area.end})
    as_hex = http.post(
        "/scan",
        json={"pid": target.pid, "start": hex(area.start), "end": hex(area.end).upper().replace("0X", "0x")},
    )
    assert as_int.status_code == as_hex.status_code == 200
    assert as_int.text == as_hex.text


def test_end_is_rounded_up_to_a_page(http: httpx.Client, target: Target) -> None:
    area = target.anon("a", 4)
    response = http.post(
        "/scan",
        json={"pid": target.pid, "start": area.start, "end": area.start + 1},
        headers={"Accept": "application/json"},
    )
    assert response.json()["end"] == area.start + PAGE
