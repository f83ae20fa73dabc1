"""How answers go out: in the format the client accepts (:func:`choose_format`), streamed
(:class:`ScanStreamResponse`, which closes its body as soon as the response ends, however it
ends), and what a service call awaits to learn that the client went away
(:class:`Disconnected`)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ..errors import PmscanError
from ..service.encoders import BINARY, JSON, NDJSON

__all__ = ["Disconnected", "NotAcceptable", "ScanStreamResponse", "choose_format", "client_gone"]

_OFFERED = (NDJSON, JSON, BINARY)


class NotAcceptable(PmscanError):
    """The Accept header allows none of the formats /scan can produce."""

    status = 406
    code = "NOT_ACCEPTABLE"


def choose_format(accept: str | None) -> str:
    """The first offered media type the Accept header allows (NDJSON by default)."""
    if not accept:
        return NDJSON
    for item in accept.split(","):
        media, _, params = item.strip().partition(";")
        media = media.strip().lower()
        if "q=0" in params.replace(" ", "") and not any(c.isdigit() and c != "0" for c in params):
            continue
        if media in _OFFERED:
            return media
        if media in ("*/*", "application/*"):
            return NDJSON
    raise NotAcceptable(f"cannot produce any of {accept!r}; offered: {', '.join(_OFFERED)}")


async def client_gone(receive: Receive) -> None:
    """Return when the client has closed the connection (the request body already read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class Disconnected:
    """An awaitable that completes when the client of the request with ASGI ``receive`` has
    closed the connection. It reads ``receive`` only while awaited, and may be awaited again
    (each time anew) or never: the pool awaits it only while a request waits for a slot."""

    __slots__ = ("_receive",)

    def __init__(self, receive: Receive) -> None:
        self._receive = receive

    def __await__(self) -> Generator[Any, None, None]:
        return client_gone(self._receive).__await__()


class ScanStreamResponse(StreamingResponse):
    """A streamed answer that is closed as soon as the response ends, however it ends.

    Starlette stops iterating when the client goes away but leaves closing the
    generator to the garbage collector; closing it here frees the scan's worker slot
    and file descriptors at once (and lets the audit log see the end of the stream).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()
