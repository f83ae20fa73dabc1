"""Domain and service exceptions become HTTP statuses here, and only here."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ..pagemap.exceptions import (
    AccessDenied,
    InvalidScan,
    NotWPAsync,
    PagemapError,
    ProcessGone,
    ProcessNotFound,
    Unsupported,
)
from .formats import NotAcceptable, error_code
from .pool import Busy

__all__ = ["STATUS", "install"]

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
}


class PayloadTooLarge(Exception):
    """The answer is larger than the chosen format may carry."""


STATUS[PayloadTooLarge] = 413


def status_for(exc: Exception) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def _body(exc: Exception) -> dict[str, dict[str, str]]:
    message = getattr(exc, "message", None) or str(exc)
    return {"detail": {"code": _code(exc), "message": message}}


def _code(exc: Exception) -> str:
    if isinstance(exc, PagemapError | OSError):
        return error_code(exc)
    return {Busy: "BUSY", NotAcceptable: "NOT_ACCEPTABLE", PayloadTooLarge: "TOO_LARGE"}.get(
        type(exc), "INTERNAL"
    )


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    status = status_for(exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Busy) else None
    if status >= 500 and status != 501 and status != 503:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(_body(exc), status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    for kind in (PagemapError, Busy, NotAcceptable, PayloadTooLarge, OSError):
        app.add_exception_handler(kind, _handle)
