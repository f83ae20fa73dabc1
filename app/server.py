"""``pmscan-server``: run the node agent with uvicorn."""

from __future__ import annotations

import argparse
import sys

import uvicorn
from pydantic import ValidationError

from .main import create_app
from .settings import Settings

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pmscan-server",
        description="Serve ioctl(PAGEMAP_SCAN) over HTTP. Settings come from PMSCAN_* variables.",
    )
    parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as err:
        print(f"pmscan-server: bad settings: {err}", file=sys.stderr)
        return 2
    app = create_app(settings)
    options: dict[str, object] = {"log_level": settings.log_level, "timeout_graceful_shutdown": 10}
    if settings.uds is not None:
        options["uds"] = str(settings.uds)
    else:
        options["host"] = settings.host
        options["port"] = settings.port
    uvicorn.run(app, **options)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
