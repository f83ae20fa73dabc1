"""POST /watch: the page counts of a process over time, one NDJSON line per tick."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError

from ...service.encoders import NDJSON
from ...service.shutdown import ShuttingDown
from ..answers import Disconnected, NotAcceptable, ScanStreamResponse, choose_format
from ..auth import AuthorizedWatch
from ..body import openapi_body
from ..exception_handlers import responses
from ..observe import track
from ..schemas import WatchRequest, WatchTick, WatchTrailer
from .scan import SCAN_ERRORS

router = APIRouter(tags=["scan"])

WATCH_OK: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One WatchTick line per tick, then a WatchTrailer line, or "
        '{"error": {"code", "message"}} if the watch ended early (EXITED: the process ended; '
        "ESHUTDOWN: the server is stopping; BUSY: no scan worker came free for a tick).",
        "content": {
            NDJSON: {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/WatchTick"},
                        {"$ref": "#/components/schemas/WatchTrailer"},
                    ]
                }
            }
        },
    },
}


@router.post(
    "/watch",
    operation_id="watch",
    summary="Count the pages of a process per category, again and again on a schedule",
    response_class=Response,
    responses={**WATCH_OK, **responses(*SCAN_ERRORS, NotAcceptable, ShuttingDown)},
    openapi_extra={
        **openapi_body(WatchRequest),
        "x-pmscan-models": [WatchTick.__name__, WatchTrailer.__name__],
    },
)
async def watch(request: Request, authorized: AuthorizedWatch) -> Response:
    """Tick i is due at the start + i x ``interval_seconds``; each counts what ``/summary``
    would count then. With ``WP_MATCHING`` (write scope) each tick write-protects what it
    counts: ``category_mask: ["WRITTEN"]`` then gives the pages written since the previous
    tick, on a userfaultfd-WP-async range."""
    body, services = authorized.body, authorized.services
    if choose_format(request.headers.get("accept")) != NDJSON:
        raise NotAcceptable("/watch answers application/x-ndjson only: one line per tick")
    _check_duration(body, services.settings.watch_max_seconds)
    access = track(request, "watch", body.pid, body=body, format="watch")
    lines = await services.watches.watch(
        body.pid,
        body.options(),
        body.interval_seconds,
        body.count,
        authorize=authorized.rule,
        cancelled=Disconnected(request.receive),
        access=access,
    )
    return ScanStreamResponse(lines, media_type=NDJSON, headers={"X-Accel-Buffering": "no"})


def _check_duration(body: WatchRequest, limit: float) -> None:
    """``count x interval_seconds`` within the server's limit: a 422 located at ``count``."""
    if body.count * body.interval_seconds > limit:
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("body", "count"),
                    "msg": f"count x interval_seconds must be at most {limit:g} seconds "
                    "(the server's PMSCAN_WATCH_MAX_SECONDS)",
                    "input": body.count,
                    "ctx": {"le": int(limit // body.interval_seconds)},
                }
            ]
        )
