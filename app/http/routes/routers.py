"""The two kinds of router every route is declared on, and so the checks every route has.

- :func:`public_router`: the strict query string (``app.http.query.strict_query``), no token:
  ``/healthz`` and ``/readyz`` only (:class:`StrictQueryRoute`);
- :func:`protected_router`: the strict query string, then authentication
  (``app.http.auth.authenticate``), before anything else of the request: every other route
  (:class:`ProtectedRoute`, which declares the bearer scheme in the OpenAPI document).

Both are steps of the route's handler, inside FastAPI's exception handling, not dependencies:
FastAPI solves each dependency node with a cache key and a handful of checks on every request
(a security scheme's, with its scopes, more), which cost more than the check itself. And the app
adds the routes themselves to its router, flat (``app.http.app``): FastAPI 0.165 matches a request
through an included router lazily, once to find the route and once more to run it, level by
level, and the two levels of included routers cost ``POST /scan`` about 40 µs an answer.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from ..auth import BEARER, authenticate
from ..query import strict_query

__all__ = ["ProtectedRoute", "StrictQueryRoute", "protected_router", "public_router"]

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class StrictQueryRoute(APIRoute):
    """A route that refuses a query string it does not declare (``strict_query``) before it
    reads anything else of the request."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        check = self.check

        async def checked(request: Request) -> Response:
            check(request)
            return await handler(request)

        return checked

    def check(self, request: Request) -> None:
        """What the route checks before its dependencies (raises to refuse the request)."""
        strict_query(request)


class ProtectedRoute(StrictQueryRoute):
    """A route that needs a token: after the query string, :func:`authenticate` (401 without a
    valid token), before its dependencies read anything; declared ``security: [{bearer: []}]``."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        extra = kwargs.get("openapi_extra") or {}
        kwargs["openapi_extra"] = {"security": [{BEARER.scheme_name: []}], **extra}
        super().__init__(path, endpoint, **kwargs)

    def check(self, request: Request) -> None:
        strict_query(request)
        authenticate(request)


def public_router(**kwargs: Any) -> APIRouter:
    """A router whose routes need no token (``kwargs``: ``APIRouter``'s)."""
    return APIRouter(route_class=StrictQueryRoute, **kwargs)


def protected_router(**kwargs: Any) -> APIRouter:
    """A router whose every route needs a token, checked before anything of the request but its
    query string (``kwargs``: ``APIRouter``'s)."""
    return APIRouter(route_class=ProtectedRoute, **kwargs)
