"""Request bodies, checked before any route reads them (pure ASGI middlewares).

:class:`BodyLimit` refuses a body larger than ``PMSCAN_MAX_BODY_BYTES`` with 413: at
once when ``Content-Length`` says so, else while counting the bytes as they are read
(nothing is buffered here, so an endless chunked body costs at most the limit).

:class:`JsonBody` makes ``curl -d '{"pid": 1}'`` work: curl labels such a body
``application/x-www-form-urlencoded``, and every body pmscan accepts is JSON, so that
label is read as JSON; so is a body without ``Content-Type`` (FastAPI itself would
refuse it: its routes check the content type strictly). Any other type that is not
JSON (``application/json``, ``application/*+json``) gets 415.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .exception_handlers import BodyTooLarge, UnsupportedMediaType, error_response

__all__ = ["BodyLimit", "JsonBody", "media_type", "read_as_json"]

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_FORM = b"application/x-www-form-urlencoded"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value)
    return None


async def _refuse(exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
    # The error the request ended with, for the metrics (app.api.observe).
    state: dict[str, Any] = scope.setdefault("state", {})
    state["error"] = exc
    await error_response(exc)(scope, receive, send)


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> BodyTooLarge:
        return BodyTooLarge(f"the request body is larger than this server's limit of {self.max_bytes} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_bytes:
            await _refuse(self._too_large(), scope, receive, send)
            return

        received = 0
        exceeded: BodyTooLarge | None = None
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = self._too_large()
                    raise exceeded
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded is not None and not started:
                return  # the app's answer to the failed read: replaced by the 413 below
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            if started:
                raise
        if exceeded is not None and not started:
            await _refuse(exceeded, scope, receive, send)


class JsonBody:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _WITH_BODY:
            media = media_type(_header(scope, b"content-type"))
            if media == _FORM or (not media and _has_body(scope)):
                scope["headers"] = [
                    *((k, v) for k, v in scope["headers"] if k.lower() != b"content-type"),
                    (b"content-type", b"application/json"),
                ]
            elif media and not _is_json(media) and _has_body(scope):
                refused = UnsupportedMediaType(
                    f"the request body must be JSON (application/json), not {media.decode(errors='replace')}"
                )
                await _refuse(refused, scope, receive, send)
                return
        await self.app(scope, receive, send)


def media_type(content_type: bytes | None) -> bytes:
    """The bare media type of a ``Content-Type`` value, lower case (empty without one)."""
    return (content_type or b"").split(b";")[0].strip().lower()


def read_as_json(media: bytes) -> bool:
    """Whether a body of this media type (:func:`media_type`) is read as JSON: JSON itself,
    curl's form label, or no label at all."""
    return not media or media == _FORM or _is_json(media)


def _is_json(media: bytes) -> bool:
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    if length is not None:
        return length.strip() not in (b"", b"0")
    return _header(scope, b"transfer-encoding") is not None
