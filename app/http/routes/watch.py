"""POST /watch: the page counts of a process, a container or a pod over time, one NDJSON line per
tick."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError

from ...service.audit import ProcessAccess
from ...service.encoders import NDJSON
from ...service.shutdown import ShuttingDown
from ..answers import Disconnected, NotAcceptable, ScanStreamResponse, choose_format
from ..auth import AuthorizedWatch
from ..body import openapi_body
from ..exception_handlers import responses
from ..observe import track
from ..schemas import WatchRequest, WatchTick, WatchTrailer
from .routers import protected_router
from .scan import SCAN_ERRORS, WORKLOAD_ERRORS

router = protected_router(tags=["scan"])

WATCH_OK: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One WatchTick line per tick, then a WatchTrailer line, or "
        '{"error": {"code", "message"}} if the watch ended early (EXITED: the process ended; '
        "ESHUTDOWN: the server is stopping; BUSY: no scan worker came free for a tick). A tick of "
        "a container or a pod counts the processes it has then, and says how many (processes, "
        "skipped).",
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
    summary="Count the pages of a process, a container or a pod per category, again and again on a schedule",
    response_class=Response,
    responses={**WATCH_OK, **responses(*SCAN_ERRORS, *WORKLOAD_ERRORS, NotAcceptable, ShuttingDown)},
    openapi_extra={
        **openapi_body(WatchRequest),
        "x-pmscan-models": [WatchTick.__name__, WatchTrailer.__name__],
    },
)
async def watch(request: Request, authorized: AuthorizedWatch) -> Response:
    """Tick i is due at the start + i x ``interval_seconds``; each counts what ``/summary``
    would count then. With ``WP_MATCHING`` (write scope) each tick write-protects what it
    counts: ``category_mask: ["WRITTEN"]`` then gives the pages written since the previous
    tick, on a userfaultfd-WP-async range. With ``container_id`` or ``pod_uid`` each tick counts
    the processes the container (or every container of the pod) has at that tick, and says how
    many."""
    body, services = authorized.body, authorized.services
    if choose_format(request.headers.get("accept")) != NDJSON:
        raise NotAcceptable("/watch answers application/x-ndjson only: one line per tick")
    _check_duration(body, services.settings.watch_max_seconds)
    workload = body.workload()
    if workload is None:
        assert body.pid is not None  # WatchRequest: exactly one of pid, container_id, pod_uid
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
    else:

        def accessed(pid: int) -> ProcessAccess:
            return track(
                request,
                "watch",
                pid,
                body=body,
                format="watch",
                container_id=body.container_id,
                pod_uid=body.pod_uid,
            )

        lines = await services.watches.watch_workload(
            workload,
            body.options(),
            body.interval_seconds,
            body.count,
            authorize=authorized.rule,
            cancelled=Disconnected(request.receive),
            track=accessed,
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
