"""Request bodies: read once, within the size limit, as JSON, and validated once.

:func:`read_body` is what the body dependencies of the routes (``app.http.auth``) call, inside
the routing like every other check, so a refusal is counted under its route:

- a body larger than ``PMSCAN_MAX_BODY_BYTES`` gets 413 :class:`BodyTooLarge`: at once when
  ``Content-Length`` says so (before the body is sent), else while counting the bytes as they
  arrive (nothing beyond the limit is buffered, so an endless chunked body costs at most it);
- every body pmscan accepts is JSON, so ``curl -d '{"pid": 1}'``, which labels it
  ``application/x-www-form-urlencoded``, and a body without ``Content-Type`` are read as JSON; any
  other type that is not JSON (``application/json``, ``application/*+json``) gets 415
  :class:`UnsupportedMediaType`;
- invalid JSON and a body the model refuses get FastAPI's own 422 (``RequestValidationError``,
  each error located under ``body``).

The operation's ``requestBody`` in the OpenAPI document comes from :func:`openapi_body`.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from ..errors import PmscanError

__all__ = ["BodyTooLarge", "UnsupportedMediaType", "media_type", "openapi_body", "read_as_json", "read_body"]

Model = TypeVar("Model", bound=BaseModel)

_FORM = b"application/x-www-form-urlencoded"


class BodyTooLarge(PmscanError):
    """The request body is larger than this server's limit (PMSCAN_MAX_BODY_BYTES)."""

    status = 413
    code = "BODY_TOO_LARGE"


class UnsupportedMediaType(PmscanError):
    """The request body is not JSON."""

    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


async def read_body(request: Request, model: type[Model], *, max_bytes: int) -> Model:
    """The request's body as ``model`` (raises ``BodyTooLarge``, ``UnsupportedMediaType``,
    ``RequestValidationError``)."""
    headers = request.headers
    length = headers.get("content-length")
    if length is not None and length.strip().isdigit() and int(length) > max_bytes:
        raise _too_large(max_bytes)
    media = media_type(headers.get("content-type", "").encode("latin-1"))
    announced = length.strip() not in ("", "0") if length is not None else "transfer-encoding" in headers
    if announced and not read_as_json(media):
        raise UnsupportedMediaType(
            f"the request body must be JSON (application/json), not {media.decode(errors='replace')}"
        )
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _invalid_json(exc.msg, ("body", exc.pos)) from exc
    except (ValueError, RecursionError) as exc:
        # Not UTF-8, an integer of more than 4300 digits, nesting too deep: invalid JSON too.
        raise _invalid_json(str(exc) or type(exc).__name__, ("body",)) from exc
    return validate(model, data)


def validate(model: type[Model], data: Any) -> Model:
    """``data`` as ``model``, or FastAPI's 422 with every error located under ``body``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` of a route whose body :func:`read_body` reads: the ``requestBody`` FastAPI
    would declare for a body parameter of type ``model`` (``app.http.openapi`` adds its schema)."""
    return {
        "requestBody": {
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
            "required": True,
        },
        "x-pmscan-request": model.__name__,
    }


def media_type(content_type: bytes | None) -> bytes:
    """The bare media type of a ``Content-Type`` value, lower case (empty without one)."""
    return (content_type or b"").split(b";")[0].strip().lower()


def read_as_json(media: bytes) -> bool:
    """Whether a body of this media type (:func:`media_type`) is read as JSON: JSON itself,
    curl's form label, or no label at all."""
    return not media or media == _FORM or _is_json(media)


def _is_json(media: bytes) -> bool:
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def _too_large(max_bytes: int) -> BodyTooLarge:
    return BodyTooLarge(f"the request body is larger than this server's limit of {max_bytes} bytes")


def _invalid_json(message: str, loc: tuple[str | int, ...]) -> RequestValidationError:
    return RequestValidationError(
        [
            {
                "type": "json_invalid",
                "loc": loc,
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": message},
            }
        ]
    )
