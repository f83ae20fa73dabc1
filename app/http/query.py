"""Query and path parameters, validated as strictly as bodies.

A body is JSON, where ``5`` and ``5.0`` are different tokens, a key cannot repeat and an unknown
field is refused; a query string is text, where pydantic's lax mode would read ``uid=0.0``,
``uid=+5`` or ``uid=5_0`` as an integer, FastAPI would keep the last of ``comm=a&comm=b``, and
would ignore a parameter the route does not have: ``/processes?pod_uid=…`` from a client that
expects a server to filter would list every process. Each means a client and the server disagree
about the request, so each gets a 422 that names the parameter.
"""

from __future__ import annotations

import re
from types import UnionType
from typing import Any, Union, get_args, get_origin

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

__all__ = ["DecimalDigits", "strict_query"]

_DECIMAL = re.compile(r"-?[0-9]+")


def _decimal(value: Any) -> Any:
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            raise PydanticCustomError("int_parsing", "Input should be a whole number in decimal digits")
        return int(value)
    return value


#: Marks an integer parameter of a URL as decimal digits only (no ``0.0``, ``+5``, ``5_0``, spaces):
#: ``Annotated[int, Query(ge=0), DecimalDigits]``. It goes after ``Query``/``Path`` so that their
#: bounds stay in the integer's JSON schema.
DecimalDigits = BeforeValidator(_decimal)


def strict_query(request: Request) -> None:
    """Refuse a query parameter that the route does not declare, and one that it declares
    single-valued and the request repeats.

    Every route runs it first (``app.http.routes.routers``), so every route is covered by
    construction; it costs one dictionary look-up on the common request, which has no query
    string."""
    if not request.scope["query_string"]:
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    declared, single = _query_parameters(dependant)
    seen: set[str] = set()
    reported: set[str] = set()
    errors: list[dict[str, Any]] = []
    for name, value in request.query_params.multi_items():
        if name not in declared:
            if name not in seen:
                errors.append(
                    {
                        "type": "extra_forbidden",
                        "loc": ("query", name),
                        "msg": "Extra inputs are not permitted: the route has no such query parameter",
                        "input": value,
                    }
                )
        elif name in single and name in seen and name not in reported:
            errors.append(
                {
                    "type": "repeated_parameter",
                    "loc": ("query", name),
                    "msg": "Parameter should be given once",
                    "input": request.query_params.getlist(name),
                }
            )
            reported.add(name)  # one error per name
        seen.add(name)
    if errors:
        raise RequestValidationError(errors)


#: Each route's query parameters, by the id of its dependant (kept: it lives as long as the app).
_DECLARED: dict[int, tuple[Dependant, frozenset[str], frozenset[str]]] = {}


def _query_parameters(dependant: Dependant) -> tuple[frozenset[str], frozenset[str]]:
    """The query parameters a route declares (its dependencies' too), and those single-valued."""
    known = _DECLARED.get(id(dependant))
    if known is None:
        params, pending = [], [dependant]
        while pending:
            current = pending.pop()
            params += current.query_params
            pending += current.dependencies
        declared = frozenset(p.alias for p in params)
        single = frozenset(p.alias for p in params if not _is_sequence(p.field_info.annotation))
        known = _DECLARED[id(dependant)] = (dependant, declared, single)
    return known[1], known[2]


def _is_sequence(annotation: Any) -> bool:
    """``list[str]``, ``list[str] | None``, …: a parameter that may repeat."""
    if get_origin(annotation) in (list, set, tuple, frozenset):
        return True
    return any(_is_sequence(a) for a in get_args(annotation) if get_origin(annotation) in (Union, UnionType))
