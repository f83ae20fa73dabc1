"""``python -m app.openapi``: print the app's OpenAPI document (no server needed)."""

from __future__ import annotations

import json
import sys

from .main import create_app
from .settings import Settings


def document() -> dict[str, object]:
    return create_app(Settings(auth="off")).openapi()


if __name__ == "__main__":
    json.dump(document(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
