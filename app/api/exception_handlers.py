"""Domain and service exceptions become HTTP statuses here, and only here."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic_core import to_json
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ..pagemap.exceptions import (
    AccessDenied,
    CgroupNotFound,
    InvalidScan,
    NotWPAsync,
    PagemapError,
    ProcessGone,
    ProcessNotFound,
    ScanTimeout,
    Unsupported,
)
from .auth import AuthError, Denied, MissingScope, NotOwner, Unauthenticated
from .formats import NotAcceptable, error_code
from .pool import Busy, ClientGone
from .shutdown import ShuttingDown

__all__ = [
    "HANDLED",
    "STATUS",
    "UNDELIVERED",
    "BodyTooLarge",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "code_for",
    "error_response",
    "handle",
    "install",
    "status_for",
]

log = logging.getLogger("pmscan")

#: The one table from exception class to HTTP status (the SDK holds the reverse).
STATUS: dict[type[Exception], int] = {
    ProcessNotFound: 404,
    AccessDenied: 403,
    NotWPAsync: 409,
    ProcessGone: 410,
    InvalidScan: 422,
    Unsupported: 501,
    NotAcceptable: 406,
    Busy: 503,
    ShuttingDown: 503,
    CgroupNotFound: 404,
    ScanTimeout: 504,
    Unauthenticated: 401,
    MissingScope: 403,
    Denied: 403,
    NotOwner: 403,
    ClientGone: 499,
}
#: Statuses no client ever receives: 499 is nginx's "client closed request", for the metrics.
UNDELIVERED = frozenset({499})


class PayloadTooLarge(Exception):
    """The answer is larger than the chosen format may carry."""


class BodyTooLarge(Exception):
    """The request body is larger than ``PMSCAN_MAX_BODY_BYTES``."""


class UnsupportedMediaType(Exception):
    """A request body that is not JSON."""


STATUS[PayloadTooLarge] = 413
STATUS[BodyTooLarge] = 413
STATUS[UnsupportedMediaType] = 415

_CODES: dict[type[BaseException], str] = {
    Busy: "BUSY",
    ClientGone: "CLIENT_GONE",
    NotAcceptable: "NOT_ACCEPTABLE",
    PayloadTooLarge: "TOO_LARGE",
    BodyTooLarge: "BODY_TOO_LARGE",
    UnsupportedMediaType: "UNSUPPORTED_MEDIA_TYPE",
}
#: 5xx statuses that are the server's answer, not its failure: no traceback in the log.
_EXPECTED_5XX = frozenset({501, 503, 504})


def status_for(exc: Exception) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def _body(exc: Exception) -> dict[str, dict[str, str]]:
    message = getattr(exc, "message", None) or str(exc)
    return {"detail": {"code": code_for(exc), "message": message}}


def code_for(exc: BaseException) -> str:
    """The ``code`` of the error body (and of the audit log) for ``exc``."""
    if isinstance(exc, PagemapError | OSError):
        return error_code(exc)
    if isinstance(exc, AuthError):
        return exc.code
    return _CODES.get(type(exc), "INTERNAL")


def error_response(exc: Exception) -> JSONResponse:
    """The JSON error response for ``exc`` (also sent by the ASGI middlewares, before routing)."""
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Busy) else None
    if isinstance(exc, Unauthenticated):
        headers = {"WWW-Authenticate": 'Bearer realm="pmscan"'}
    return JSONResponse(_body(exc), status_code=status_for(exc), headers=headers)


async def handle(request: Request, exc: Exception) -> JSONResponse:
    """The error response for one of the :data:`HANDLED` exceptions (the app's handler of
    them, also called by app.api.fastlane outside the framework)."""
    # The error the request ended with, for the metrics and the audit log (app.api.observe).
    request.state.error = exc
    if status_for(exc) >= 500 and status_for(exc) not in _EXPECTED_5XX:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(exc)


async def _invalid_request(request: Request, exc: Exception) -> Response:
    """FastAPI's 422, able to quote any input: Python's JSON parser reads ``1e400`` as infinity
    (and accepts ``NaN``), which JSON cannot carry, and FastAPI's own handler then fails (500)."""
    assert isinstance(exc, RequestValidationError)
    body = to_json({"detail": jsonable_encoder(exc.errors())}, inf_nan_mode="strings")
    return Response(body, status_code=422, media_type="application/json")


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's answer to an HTTPException, except its 400 for a body that ``json.loads`` refuses
    with another error than a syntax error (not UTF-8, an integer of more than 4300 digits, nesting
    too deep): that is invalid JSON like any other, 422 ``json_invalid``."""
    assert isinstance(exc, HTTPException)
    cause = exc.__cause__
    if exc.status_code == 400 and isinstance(cause, ValueError | RecursionError):
        error = {"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error", "input": {}}
        error["ctx"] = {"error": str(cause) or type(cause).__name__}
        return await _invalid_request(request, RequestValidationError([error]))
    return await http_exception_handler(request, exc)


#: The exceptions :func:`handle` answers; any other is a bug (500, with a traceback in the log).
HANDLED: tuple[type[Exception], ...] = (
    PagemapError,
    Busy,
    ClientGone,
    NotAcceptable,
    PayloadTooLarge,
    BodyTooLarge,
    UnsupportedMediaType,
    OSError,
    AuthError,
)


def install(app: FastAPI) -> None:
    for kind in HANDLED:
        app.add_exception_handler(kind, handle)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
