"""The OpenAPI document: FastAPI's, completed with the models of streamed responses.

``pmscan-server openapi`` prints it (no server needed: ``app.http.app.openapi_document``);
``make openapi`` stores it as ``openapi.json``, from which ``make sdk`` generates the client.

FastAPI puts a model into ``components/schemas`` only when a route uses it as a body or
``response_model``. ``/scan`` streams, so its response models (``ScanDocument``,
``ScanTrailer``, and ``Region`` through them) are named by the operation's
``x-pmscan-models`` extension instead, and :func:`install` adds them. Likewise the request
bodies that ``app.http.body`` reads itself (``x-pmscan-request``), and FastAPI's validation error
models where a route lists them among its errors. And the bearer scheme (``app.http.auth.BEARER``)
that every protected operation declares (``app.http.routes.routers.ProtectedRoute``).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.constants import REF_PREFIX
from fastapi.openapi.models import OpenAPI
from fastapi.openapi.utils import validation_error_definition, validation_error_response_definition
from pydantic import BaseModel

from . import schemas
from .auth import BEARER

__all__ = ["install"]

_REF = "#/components/schemas/{model}"


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so ``GET /openapi.json``) the completed document."""
    if getattr(app.openapi, "__pmscan__", False):
        return
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_extra_models(generate())
        return app.openapi_schema

    openapi.__pmscan__ = True  # type: ignore[attr-defined]
    app.openapi = openapi  # type: ignore[method-assign]


def _with_extra_models(doc: dict[str, Any]) -> dict[str, Any]:
    components: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    for path in doc.get("paths", {}).values():
        for operation in path.values():
            for name in operation.get("x-pmscan-models", ()):
                _add_model(components, name, "serialization")
            if "x-pmscan-request" in operation:
                _add_model(components, operation["x-pmscan-request"], "validation")
    if REF_PREFIX + "HTTPValidationError" in json.dumps(doc):
        components.setdefault("ValidationError", validation_error_definition)
        components.setdefault("HTTPValidationError", validation_error_response_definition)
    doc["components"]["schemas"] = dict(sorted(components.items()))
    if any(
        BEARER.scheme_name in requirement
        for path in doc.get("paths", {}).values()
        for operation in path.values()
        for requirement in operation.get("security", ())
    ):
        schemes = doc["components"].setdefault("securitySchemes", {})
        schemes[BEARER.scheme_name] = jsonable_encoder(BEARER.model, by_alias=True, exclude_none=True)
    # As FastAPI renders its own part: through its OpenAPI model (numbers as JSON Schema's).
    rendered: dict[str, Any] = jsonable_encoder(OpenAPI(**doc), by_alias=True, exclude_none=True)
    return rendered


def _add_model(components: dict[str, Any], name: str, mode: Literal["validation", "serialization"]) -> None:
    model = getattr(schemas, name, None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"the document names {name!r}, not a model of app.http.schemas")
    schema = model.model_json_schema(ref_template=_REF, mode=mode)
    for nested, definition in schema.pop("$defs", {}).items():
        components.setdefault(nested, definition)
    components.setdefault(name, schema)
