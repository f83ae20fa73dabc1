"""The two kinds of router every route is declared on, and so the checks every route has.

- :func:`public_router`: the strict query string (``app.http.query.strict_query``), no token:
  ``/healthz`` and ``/readyz`` only;
- :func:`protected_router`: the strict query string, then authentication
  (``app.http.auth.authenticate``, the routes' first dependency): every other route.

A router's dependencies become each of its routes' own when the route is declared, so the app
adds the routes themselves to its router, flat (``app.http.app``): FastAPI 0.165 matches a request
through an included router lazily, once to find the route and once more to run it, level by
level, and the two levels of included routers cost ``POST /scan`` about 40 µs an answer. The
query check is not a dependency but the first step of the route's handler
(:class:`StrictQueryRoute`): FastAPI solves each dependency node with a cache key and a handful of
checks on every request, which cost more than the check itself.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute

from ..auth import authenticate
from ..query import strict_query

__all__ = ["StrictQueryRoute", "protected_router", "public_router"]


class StrictQueryRoute(APIRoute):
    """A route that refuses a query string it does not declare (``strict_query``) before it
    reads anything else of the request, in its handler, inside FastAPI's exception handling."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            strict_query(request)
            return await handler(request)

        return strict


def public_router(**kwargs: Any) -> APIRouter:
    """A router whose routes need no token (``kwargs``: ``APIRouter``'s)."""
    return APIRouter(route_class=StrictQueryRoute, **kwargs)


def protected_router(**kwargs: Any) -> APIRouter:
    """A router whose every route needs a token, checked before anything of the request but its
    query string (``kwargs``: ``APIRouter``'s, but ``dependencies``)."""
    return APIRouter(route_class=StrictQueryRoute, dependencies=[Depends(authenticate)], **kwargs)
