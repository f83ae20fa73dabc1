"""``openapi.json`` is the app's document: the SDK is generated from it, so it must not drift."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from app.http.app import create_app
from app.http.app import openapi_document as document
from app.settings import Settings

EXPORTED = Path(__file__).resolve().parent.parent / "openapi.json"
#: Operation ids are the names of the generated client's functions.
OPERATIONS = {
    ("post", "/scan"): "scan",
    ("post", "/summary"): "summary",
    ("post", "/watch"): "watch",
    ("get", "/processes"): "list_processes",
    ("get", "/containers"): "list_containers",
    ("get", "/processes/{pid}/maps"): "get_maps",
    ("post", "/processes/{pid}/clear-soft-dirty"): "clear_soft_dirty",
    ("get", "/capabilities"): "get_capabilities",
    ("get", "/healthz"): "healthz",
    ("get", "/readyz"): "readyz",
}


def test_openapi_json_is_the_apps_document() -> None:
    assert json.loads(EXPORTED.read_text()) == document(), (
        "openapi.json is stale: run `make openapi` (or `make sdk`)"
    )


def test_the_served_document_is_the_exported_one() -> None:
    async def get() -> Any:
        transport = httpx.ASGITransport(app=create_app(Settings(auth="off")))
        async with httpx.AsyncClient(transport=transport, base_url="http://pmscan") as client:
            return (await client.get("/openapi.json")).json()

    served = asyncio.run(get())
    assert served == document(), (
        "GET /openapi.json differs from `pmscan-server openapi`: create_app() must call "
        "app.http.openapi.install(app), which adds the models of the streamed /scan responses"
    )


def test_every_reference_resolves() -> None:
    doc = document()
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref


def test_operation_ids_read_as_function_names() -> None:
    found = {
        (method, path): operation["operationId"]
        for path, methods in document()["paths"].items()
        for method, operation in methods.items()
    }
    assert {k: v for k, v in found.items() if k in OPERATIONS} == OPERATIONS
    assert all(re.fullmatch(r"[a-z][a-z_]*", name) for name in found.values()), found


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_what_other_ecosystems_linters_ask_for() -> None:
    """Redocly's recommended rules (``make lint`` runs the linter itself): servers, a license,
    every operation's security said explicitly (``[]`` where public) and a 4XX answer."""
    doc = document()
    assert doc["servers"] and doc["info"]["license"]["identifier"] == "Apache-2.0"
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            assert "security" in operation, (method, path)
            assert any(status.startswith("4") for status in operation["responses"]), (method, path)
    assert document()["paths"]["/healthz"]["get"]["security"] == []
