"""The OpenAPI document: FastAPI's, completed with the models of streamed responses.

``python -m app.openapi`` prints it (no server needed); ``make openapi`` stores it as
``openapi.json``, from which ``make sdk`` generates the client.

FastAPI puts a model into ``components/schemas`` only when a route uses it as a body or
``response_model``. ``/scan`` streams, so its response models (``ScanDocument``,
``ScanTrailer``, and ``Region`` through them) are named by the operation's
``x-pmscan-models`` extension instead, and :func:`install` adds them.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from .api import schemas
from .settings import Settings

__all__ = ["document", "install"]

_REF = "#/components/schemas/{model}"


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so ``GET /openapi.json``) the completed document."""
    if getattr(app.openapi, "__pmscan__", False):
        return
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_extra_models(generate())
        return app.openapi_schema

    openapi.__pmscan__ = True  # type: ignore[attr-defined]
    app.openapi = openapi  # type: ignore[method-assign]


def document() -> dict[str, Any]:
    """The document the app serves, built without a server (auth off changes nothing in it)."""
    from .main import create_app  # noqa: PLC0415 (here: main is to import this module)

    app = create_app(Settings(auth="off"))
    install(app)
    return app.openapi()


def _with_extra_models(doc: dict[str, Any]) -> dict[str, Any]:
    components: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    for path in doc.get("paths", {}).values():
        for operation in path.values():
            for name in operation.get("x-pmscan-models", ()):
                model = getattr(schemas, name)
                if not (isinstance(model, type) and issubclass(model, BaseModel)):
                    raise TypeError(f"x-pmscan-models names {name!r}, not a model of app.api.schemas")
                schema = model.model_json_schema(ref_template=_REF, mode="serialization")
                for nested, definition in schema.pop("$defs", {}).items():
                    components.setdefault(nested, definition)
                components.setdefault(name, schema)
    doc["components"]["schemas"] = dict(sorted(components.items()))
    return doc


if __name__ == "__main__":
    json.dump(document(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
