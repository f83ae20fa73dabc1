"""``POST /scan`` without the framework's per-request machinery, for the requests that need none.

The scan of a small process takes the kernel about 100 µs; routing, dependency resolution and
body handling in the framework cost several times that on every request. This pure ASGI
middleware answers the ordinary scan request itself — a JSON body of declared length within
the limit, that validates, from a caller the authenticator accepts — with the very functions the
route uses (:func:`~app.api.routes.scan.answer_scan`, the authenticator, the exception handler).

Everything else goes on to the framework, with the body replayed when it was read: refusals
(401, 403, 413, 415, 422) are decided in one place, the routes and middlewares behind this one.
The request is already counted and audited by the middleware in front of this one.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.security.utils import get_authorization_scheme_param
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import Authenticator, AuthError, authorize_body
from .body import media_type, read_as_json
from .deps import Services
from .exception_handlers import HANDLED, handle
from .routes.scan import answer_scan
from .schemas import ScanRequest

__all__ = ["ScanFastLane"]


class ScanFastLane:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/scan" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        length = -1
        content_type = authorization = b""
        for raw_name, value in scope["headers"]:
            name = raw_name.lower()
            if name == b"content-length":
                length = int(value) if value.isdigit() else -1
            elif name == b"content-type":
                content_type = value
            elif name == b"authorization":
                authorization = value
            elif name == b"transfer-encoding":
                length = -1
        if not 0 < length <= self.max_body_bytes or not read_as_json(media_type(content_type)):
            await self.app(scope, receive, send)  # the body middlewares' business
            return

        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if len(body) != length:
            await self.app(scope, _replay(messages, receive), send)
            return
        services: Services = scope["app"].state.services
        authenticator: Authenticator = scope["app"].state.authenticator
        try:
            scan = ScanRequest.model_validate(json.loads(body))
            token = _bearer_token(authorization.decode("latin-1")) if authorization else None
            principal = authenticator.principal(scope, token)
            authorized = authorize_body(authenticator, principal, scan)
        except (ValueError, RecursionError, ValidationError, AuthError):
            # Not an ordinary request: the framework gives the answer it always gives.
            await self.app(scope, _replay(messages, receive), send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        state["principal"] = principal  # for the audit log, as app.api.auth.authenticate does
        request = Request(scope, receive)
        try:
            response = await answer_scan(request, authorized.body, authorized.rule, services)
        except HANDLED as exc:
            response = await handle(request, exc)
        await response(scope, receive, send)


def _bearer_token(authorization: str) -> str | None:
    """The credentials of ``Authorization: Bearer <token>``, parsed as FastAPI's ``HTTPBearer``
    parses them; ``None`` for no token or another scheme."""
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` that gives ``messages`` again first."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
