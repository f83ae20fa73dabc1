"""What the SDK raises: HTTP statuses, in-band error records and transport failures become
the exceptions below here, and only here.

The names are the server's. Each server error declares its HTTP status once; ``openapi.json``
carries them, and ``make sdk`` writes them to ``_generated/server_errors.py``, from which
:data:`STATUS` is derived: one exception per status, named as (one of) the server's errors
answered with it. Where the SDK tells several errors of one status apart (a 404 for a container
or a pod, not a process), the others subclass the status's exception and are chosen by their
``code`` (:data:`BY_CODE`): ``except ProcessNotFound`` still catches every 404.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from ._generated.server_errors import SERVER_ERRORS

__all__ = [
    "BY_CODE",
    "CODES",
    "ERRNO",
    "STATUS",
    "AccessDenied",
    "Busy",
    "ContainerNotFound",
    "IncompleteResponse",
    "InvalidRequest",
    "NotAcceptable",
    "NotWPAsync",
    "PayloadTooLarge",
    "PmscanError",
    "PodNotFound",
    "ProcessGone",
    "ProcessNotFound",
    "ScanTimeout",
    "ServerError",
    "Timeout",
    "TransportError",
    "Unauthenticated",
    "Unsupported",
    "UnsupportedMediaType",
    "error_for_code",
    "error_for_errno",
    "error_for_response",
    "retry_after",
    "translate_transport_errors",
]


class PmscanError(Exception):
    """Base of everything the SDK raises.

    ``status`` is the HTTP status (``None`` when no response came), ``code`` the server's
    errno name or short upper-case code (``ESRCH``, ``BUSY``, …) when it gave one.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class Unauthenticated(PmscanError):
    """401: the token is missing or wrong."""


class AccessDenied(PmscanError):
    """403: the token lacks the scope, or the kernel denies access to the process (``code``)."""


class ProcessNotFound(PmscanError):
    """404: no such process, or a kernel thread (no user memory); the base of every 404 (no such
    cgroup too, and :class:`ContainerNotFound`, :class:`PodNotFound`)."""


class ContainerNotFound(ProcessNotFound):
    """404: no process of the node is in a container with that id (``NO_SUCH_CONTAINER``)."""


class PodNotFound(ProcessNotFound):
    """404: no process of the node is in a container of a pod with that UID (``NO_SUCH_POD``)."""


class NotAcceptable(PmscanError):
    """406: the server cannot produce the requested format."""


class NotWPAsync(PmscanError):
    """409: ``CHECK_WPASYNC`` met a page without async write-protection."""


class ProcessGone(PmscanError):
    """410: the process exited (or is a zombie), before or during the scan."""


class PayloadTooLarge(PmscanError):
    """413: the answer is too large for ``application/json``; stream it instead."""


class UnsupportedMediaType(PmscanError):
    """415: the request body was not JSON."""


class InvalidRequest(PmscanError):
    """422: the server rejected the request; ``errors`` holds FastAPI's validation details."""

    errors: list[dict[str, Any]]


class Busy(PmscanError):
    """429 or 503: every scan worker is busy. ``retry_after`` (seconds) is the server's advice;
    clients retry a bounded number of times before raising this."""

    retry_after: float | None = None


class Unsupported(PmscanError):
    """501: the request needs a kernel feature this node lacks."""


class ScanTimeout(PmscanError):
    """504: the scan ran past the server's time limit (``PMSCAN_SCAN_TIMEOUT_SECONDS``)."""


class ServerError(PmscanError):
    """Another 5xx, or a failure the server reported in the middle of a stream."""


class IncompleteResponse(PmscanError):
    """The stream ended with neither its trailer nor an error record: the answer was cut short."""


class TransportError(PmscanError):
    """No answer: the connection could not be made or broke (the ``httpx`` error is the cause)."""


class Timeout(TransportError):
    """The server did not answer in time."""


#: Where the SDK names a status otherwise than the server: 422 is pydantic's validation and the
#: kernel's EINVAL alike, which a client cannot tell apart; 429 is what a proxy in front of a
#: server may answer for the same reason as the server's 503.
_NAMED_APART: dict[int, type[PmscanError]] = {422: InvalidRequest, 429: Busy}


def _tables() -> tuple[dict[int, type[PmscanError]], dict[tuple[int, str], type[PmscanError]]]:
    """The exception of each status (the most general of those named as the server's errors of
    that status: the others subclass it), and of each ``(status, code)`` the SDK tells apart."""
    ours = {kind.__name__: kind for kind in _subclasses(PmscanError)}
    table = dict(_NAMED_APART)
    by_code: dict[tuple[int, str], type[PmscanError]] = {}
    for status, errors in SERVER_ERRORS.items():
        named = {(code, ours[name]) for name, code in errors if name in ours}
        general = {kind for _, kind in named if all(issubclass(k, kind) for _, k in named)}
        if status not in table:
            if len(general) != 1:
                raise ImportError(f"the SDK needs one exception named as the server's errors of {status}")
            table[status] = general.pop()
        by_code.update({(status, code): kind for code, kind in named if kind is not table[status]})
    return dict(sorted(table.items())), by_code


def _subclasses(kind: type[PmscanError]) -> list[type[PmscanError]]:
    found = []
    for sub in kind.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


#: The one table from HTTP status to exception (derived from the server's declarations), and
#: where the SDK tells errors of one status apart, from status and ``code`` to exception.
STATUS, BY_CODE = _tables()

#: The error record of a binary stream carries an errno: what it means after the stream began
#: (the server's encoding: a process that exited is ESRCH).
ERRNO: dict[int, type[PmscanError]] = {
    errno.ESRCH: ProcessGone,
    errno.ENOENT: ProcessGone,
    errno.EACCES: AccessDenied,
    errno.EPERM: NotWPAsync,
    errno.EINVAL: InvalidRequest,
    errno.ENOTTY: Unsupported,
    errno.ETIMEDOUT: ScanTimeout,
}


def error_for_response(response: httpx.Response) -> PmscanError:
    """The exception for an error response whose body has been read."""
    status = response.status_code
    code, message, details = _parse_body(response)
    kind = (
        BY_CODE.get((status, code or ""))
        or STATUS.get(status)
        or (ServerError if status >= 500 else PmscanError)
    )
    error = kind(message or f"HTTP {status} {response.reason_phrase}", status=status, code=code)
    if isinstance(error, InvalidRequest):
        error.errors = details
    if isinstance(error, Busy):
        error.retry_after = retry_after(response.headers.get("retry-after"))
    return error


def error_for_errno(number: int) -> PmscanError:
    """The exception for the error record ``(2^64-2, errno, 0)`` that ended a binary stream."""
    name = errno.errorcode.get(number, str(number))
    kind = ERRNO.get(number, ServerError)
    return kind(f"the scan failed after the stream began: {name}", code=name)


#: The codes of an NDJSON error line that are not errno names (the server's error codes).
CODES: dict[str, type[PmscanError]] = {
    "EXITED": ProcessGone,
    "ESHUTDOWN": Busy,
    "BUSY": Busy,
}


def error_for_code(code: str, message: str) -> PmscanError:
    """The exception for the line ``{"error": {"code", "message"}}`` that ended an NDJSON stream."""
    kind = CODES.get(code)
    if kind is None:
        number = getattr(errno, code, None)
        kind = ERRNO.get(number, ServerError) if isinstance(number, int) else ServerError
    return kind(f"{message} ({code}, after the stream began)", code=code)


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _parse_body(response: httpx.Response) -> tuple[str | None, str, list[dict[str, Any]]]:
    """``(code, message, validation details)`` from ``{"detail": {...}}`` or ``{"detail": [...]}``."""
    try:
        detail = response.json().get("detail")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return None, response.text[:200], []
    if isinstance(detail, dict):
        return detail.get("code"), str(detail.get("message", "")), []
    if isinstance(detail, list):
        parts = [
            f"{'.'.join(str(p) for p in d.get('loc', ()))}: {d.get('msg', '')}"
            for d in detail
            if isinstance(d, dict)
        ]
        return None, "; ".join(parts), [d for d in detail if isinstance(d, dict)]
    return None, str(detail or ""), []


@contextmanager
def translate_transport_errors(*, streaming: bool = False, node: str | None = None) -> Iterator[None]:
    """Re-raise ``httpx`` transport errors as :class:`TransportError` (or :class:`Timeout`);
    while ``streaming`` a body, a broken connection is an :class:`IncompleteResponse`. ``node``
    (a URL, or ``unix:PATH``) is named in the message: which address failed."""
    at = f"{node}: " if node else ""
    try:
        yield
    except httpx.TimeoutException as err:
        raise Timeout(f"{at}timed out: {err}") from err
    except httpx.TransportError as err:
        if streaming:
            raise IncompleteResponse(f"{at}the stream broke off: {err}") from err
        if isinstance(err, httpx.ConnectError):
            raise TransportError(f"cannot connect to {node or 'the node'}: {err}") from err
        raise TransportError(f"{at}{type(err).__name__}: {err}") from err
