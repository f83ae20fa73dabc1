"""POST /scan and POST /summary: the ioctl over HTTP."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from ...pagemap.exceptions import (
    AccessDenied,
    AmbiguousContainer,
    CgroupNotFound,
    ContainerNotFound,
    Denied,
    InvalidScan,
    NotOwner,
    NotWPAsync,
    PodNotFound,
    ProcessGone,
    ProcessNotFound,
    ScanTimeout,
    Unsupported,
)
from ...security.principals import MissingScope, Unauthenticated
from ...service.audit import ProcessAccess
from ...service.encoders import BINARY, JSON, NDJSON, SHORT_NAMES
from ...service.pool import Busy
from ...service.scans import PayloadTooLarge
from ...service.shutdown import ShuttingDown
from ...service.summaries import CgroupSummary, ProcessSummary
from ..answers import Disconnected, NotAcceptable, ScanStreamResponse, choose_format
from ..auth import AuthorizedScan, AuthorizedSummary
from ..body import BodyTooLarge, UnsupportedMediaType, openapi_body
from ..exception_handlers import VALIDATION, responses
from ..observe import track
from ..schemas import (
    CgroupSummaryResponse,
    ScanDocument,
    ScanRequest,
    ScanTrailer,
    SummaryRequest,
    SummaryResponse,
    WorkloadSummaryResponse,
)
from .routers import protected_router

router = protected_router(tags=["scan"])

#: What a scan of one process can meet, /scan and /summary alike.
SCAN_ERRORS = (
    Unauthenticated,
    MissingScope,
    Denied,
    NotOwner,
    AccessDenied,
    ProcessNotFound,
    NotWPAsync,
    ProcessGone,
    BodyTooLarge,
    UnsupportedMediaType,
    VALIDATION,
    InvalidScan,
    Unsupported,
    Busy,
    ScanTimeout,
)

#: What naming a workload (a container, or a pod) can meet besides.
WORKLOAD_ERRORS = (ContainerNotFound, PodNotFound, AmbiguousContainer)

SCAN_OK: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Page regions. NDJSON (default): one Region per line, then a ScanTrailer line, "
        'or {"error": {"code", "message"}} if the scan failed after the stream began. '
        "application/json: a ScanDocument. application/octet-stream: 24-byte little-endian records "
        "(start, end, categories), then (2^64-1, walk_end, regions), or (2^64-2, errno, 0) on error.",
        "content": {
            NDJSON: {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/Region"},
                        {"$ref": "#/components/schemas/ScanTrailer"},
                    ]
                }
            },
            JSON: {"schema": {"$ref": "#/components/schemas/ScanDocument"}},
            BINARY: {"schema": {"type": "string", "format": "binary"}},
        },
    },
}


@router.post(
    "/scan",
    operation_id="scan",
    summary="Scan the pages of a process (ioctl PAGEMAP_SCAN)",
    response_class=Response,
    responses={**SCAN_OK, **responses(*SCAN_ERRORS, NotAcceptable, PayloadTooLarge, ShuttingDown)},
    openapi_extra={
        **openapi_body(ScanRequest),
        "x-pmscan-models": [ScanTrailer.__name__, ScanDocument.__name__],
    },
)
async def scan(request: Request, authorized: AuthorizedScan) -> Response:
    body = authorized.body
    media_type = choose_format(request.headers.get("accept"))
    access = track(request, "scan", body.pid, body=body, format=SHORT_NAMES[media_type])
    answer = await authorized.services.scans.scan(
        body.pid,
        body.options(),
        media_type,
        authorize=authorized.rule,
        cancelled=Disconnected(request.receive),
        access=access,
    )
    if answer.stream is not None:
        return ScanStreamResponse(answer.stream, media_type=media_type, headers={"X-Accel-Buffering": "no"})
    return Response(answer.body, media_type=media_type)


@router.post(
    "/summary",
    operation_id="summary",
    summary="Count the pages of a process, or of each process of a cgroup, a container or a pod, per "
    "category (and per mapping)",
    response_model=SummaryResponse | CgroupSummaryResponse | WorkloadSummaryResponse,
    response_model_exclude_none=True,
    responses=responses(*SCAN_ERRORS, CgroupNotFound, *WORKLOAD_ERRORS),
    openapi_extra=openapi_body(SummaryRequest),
)
async def summary(
    request: Request, authorized: AuthorizedSummary
) -> SummaryResponse | CgroupSummaryResponse | WorkloadSummaryResponse:
    """With ``pid``: a ``SummaryResponse``. With ``cgroup``: a ``CgroupSummaryResponse``, one
    summary per member process (members that exit meanwhile or may not be scanned are
    listed under ``skipped``) and the sum of their pages. With ``container_id`` or ``pod_uid``:
    a ``WorkloadSummaryResponse``, the same for the processes the container (or every container
    of the pod) has at that moment, and the containers counted."""
    body = authorized.body

    def accessed(pid: int) -> ProcessAccess:
        return track(
            request,
            "summary",
            pid,
            body=body,
            format="summary",
            cgroup=body.cgroup,
            container_id=body.container_id,
            pod_uid=body.pod_uid,
        )

    result = await authorized.services.summaries.summarize(
        body.target(),
        body.options(),
        by_vma=body.by_vma,
        authorize=authorized.rule,
        track=accessed,
        cancelled=Disconnected(request.receive),
    )
    if isinstance(result, ProcessSummary):
        return SummaryResponse.of(result)
    if isinstance(result, CgroupSummary):
        return CgroupSummaryResponse.of(result)
    return WorkloadSummaryResponse.of(result)
