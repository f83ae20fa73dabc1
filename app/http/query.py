"""Query and path parameters, validated as strictly as bodies.

A body is JSON, where ``5`` and ``5.0`` are different tokens and a key cannot repeat; a query
string is text, where pydantic's lax mode would read ``uid=0.0``, ``uid=+5`` or ``uid=5_0`` as an
integer and FastAPI would keep the last of ``comm=a&comm=b``. Both mean a client and the server
disagree about the request, so both get a 422 that names the parameter.
"""

from __future__ import annotations

import re
from types import UnionType
from typing import Any, Union, get_args, get_origin

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

__all__ = ["DecimalDigits", "single_valued_query"]

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


async def single_valued_query(request: Request) -> None:
    """Refuse a query parameter that the route declares single-valued and the request repeats.

    A dependency of the whole app, so every route is covered by construction; it costs one
    dictionary look-up on the common request, which has no query string."""
    if not request.scope["query_string"]:
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    single = {p.alias for p in dependant.query_params if not _is_sequence(p.field_info.annotation)}
    seen: set[str] = set()
    errors = []
    for name, _ in request.query_params.multi_items():
        if name in single and name in seen:
            errors.append(
                {
                    "type": "repeated_parameter",
                    "loc": ("query", name),
                    "msg": "Parameter should be given once",
                    "input": request.query_params.getlist(name),
                }
            )
            single.discard(name)  # one error per name
        seen.add(name)
    if errors:
        raise RequestValidationError(errors)


def _is_sequence(annotation: Any) -> bool:
    """``list[str]``, ``list[str] | None``, …: a parameter that may repeat."""
    if get_origin(annotation) in (list, set, tuple, frozenset):
        return True
    return any(_is_sequence(a) for a in get_args(annotation) if get_origin(annotation) in (Union, UnionType))
