"""The two kinds of router every route is declared on, and so the checks every route has.

- :func:`public_router`: the strict query string (``app.http.query.strict_query``), no token:
  ``/healthz`` and ``/readyz`` only;
- :func:`protected_router`: the strict query string, then authentication
  (``app.http.auth.authenticate``): every other route.

A router's dependencies become each of its routes' own when the route is declared, so the app
adds the routes themselves to its router, flat (``app.http.app``): FastAPI 0.165 matches a request
through an included router lazily, once to find the route and once more to run it, level by level,
and the two levels of included routers cost ``POST /scan`` about 40 µs an answer.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from ..auth import authenticate
from ..query import strict_query

__all__ = ["protected_router", "public_router"]


def public_router(**kwargs: Any) -> APIRouter:
    """A router whose routes need no token (``kwargs``: ``APIRouter``'s, but ``dependencies``)."""
    return APIRouter(dependencies=[Depends(strict_query)], **kwargs)


def protected_router(**kwargs: Any) -> APIRouter:
    """A router whose every route needs a token, checked before anything else of the request."""
    return APIRouter(dependencies=[Depends(strict_query), Depends(authenticate)], **kwargs)
