"""Errors become HTTP answers here, and only here, from what each error declares.

Every error pmscan answers with is a :class:`~app.errors.PmscanError` that declares its status
and code itself; :func:`handle` answers it, and :func:`responses` turns the errors a route can
raise into that route's OpenAPI ``responses`` (from which the SDK's table is generated). Two
foreign errors are translated here too: FastAPI's ``RequestValidationError`` (422, its own
shape) and an ``OSError`` nobody expected (500, with the errno name as code and a traceback in
the log).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic_core import to_json
from starlette.responses import Response

from ..errors import PmscanError, code_of
from .schemas import ErrorBody

__all__ = ["VALIDATION", "error_response", "handle", "install", "responses", "status_of"]

log = logging.getLogger("pmscan")

#: FastAPI's validation error (422 ``{"detail": [...]}``), as a route lists it in :func:`responses`.
VALIDATION = RequestValidationError
_VALIDATION_DESCRIPTION = "The request is invalid (FastAPI's validation details name the field)"
_VALIDATION_SCHEMA: dict[str, Any] = {"$ref": "#/components/schemas/HTTPValidationError"}
#: Statuses no client ever receives: 499 is nginx's "client closed request", for the metrics.
UNDELIVERED = frozenset({499})


def status_of(exc: BaseException) -> int:
    """The HTTP status of the answer to ``exc``."""
    if isinstance(exc, PmscanError):
        return exc.status
    if isinstance(exc, RequestValidationError):
        return 422
    return 500


def error_response(exc: BaseException) -> JSONResponse:
    """The JSON error response ``{"detail": {"code", "message"}}`` for ``exc``."""
    message = getattr(exc, "message", None) or str(exc)
    headers = exc.headers() if isinstance(exc, PmscanError) else None
    return JSONResponse(
        {"detail": {"code": code_of(exc), "message": message}}, status_code=status_of(exc), headers=headers
    )


async def handle(request: Request, exc: Exception) -> Response:
    """The answer to an error a route (or a dependency) raised."""
    # The error the request ended with, for the metrics and the audit log (app.http.observe).
    request.state.error = exc
    if isinstance(exc, RequestValidationError):
        # FastAPI's shape, able to quote any input: Python's JSON parser reads 1e400 as infinity
        # (and accepts NaN), which JSON cannot carry, and FastAPI's own handler then fails (500).
        body = to_json({"detail": jsonable_encoder(exc.errors())}, inf_nan_mode="strings")
        return Response(body, status_code=422, media_type="application/json")
    if not isinstance(exc, PmscanError):
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(exc)


def responses(*errors: type[PmscanError] | type[RequestValidationError]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route that can raise ``errors``: one entry per status, its
    description naming each error's code, and ``x-pmscan-errors`` the errors' names and codes
    (``clients/regenerate.py`` derives the SDK's table from them)."""
    by_status: dict[int, list[type[PmscanError]]] = {}
    validation = False
    for kind in errors:
        if issubclass(kind, RequestValidationError):
            validation = True
        elif kind.status not in UNDELIVERED:
            by_status.setdefault(kind.status, []).append(kind)
    answer: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*by_status, *([422] if validation else [])}):
        kinds = by_status.get(status, [])
        described = [f"{kind.code}: {kind.description()}" for kind in kinds]
        entry: dict[str, Any] = {"description": "; ".join(described)}
        if validation and status == 422:
            entry["description"] = "; ".join([_VALIDATION_DESCRIPTION, *described])
            schema = _VALIDATION_SCHEMA
            if kinds:
                schema = {"anyOf": [schema, {"$ref": "#/components/schemas/ErrorBody"}]}
            entry["content"] = {"application/json": {"schema": schema}}
        else:
            entry["model"] = ErrorBody
        entry["x-pmscan-errors"] = [{"name": kind.__name__, "code": kind.code} for kind in _unique(kinds)]
        answer[status] = entry
    return answer


def _unique(kinds: Iterable[type[PmscanError]]) -> list[type[PmscanError]]:
    return list(dict.fromkeys(kinds))


def install(app: FastAPI) -> None:
    app.add_exception_handler(PmscanError, handle)
    app.add_exception_handler(RequestValidationError, handle)
    app.add_exception_handler(OSError, handle)
