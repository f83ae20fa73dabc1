"""POST /scan and POST /summary: the ioctl over HTTP."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response

from ...pagemap.exceptions import (
    AccessDenied,
    CgroupNotFound,
    Denied,
    InvalidScan,
    NotOwner,
    NotWPAsync,
    ProcessGone,
    ProcessNotFound,
    ScanTimeout,
    Unsupported,
)
from ...pagemap.scanner import Scan
from ...pagemap.session import open_scan
from ...security.principals import MissingScope, Unauthenticated
from ..audit import ProcessAccess, track
from ..auth import AuthorizedScan, AuthorizedSummary
from ..body import BodyTooLarge, UnsupportedMediaType, openapi_body
from ..exception_handlers import VALIDATION, responses
from ..formats import BINARY, JSON, NDJSON, NotAcceptable, PayloadTooLarge
from ..pool import Busy
from ..scans import answer_scan
from ..schemas import (
    CgroupSummaryResponse,
    ScanDocument,
    ScanRequest,
    ScanTrailer,
    SummaryRequest,
    SummaryResponse,
)
from ..shutdown import ShuttingDown
from ..summaries import summarize_cgroup, summarize_process

router = APIRouter(tags=["scan"])

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
    return await answer_scan(request, authorized.body, authorized.rule, authorized.services)


@router.post(
    "/summary",
    operation_id="summary",
    summary="Count the pages of a process, or of each process of a cgroup, per category (and per mapping)",
    response_model=SummaryResponse | CgroupSummaryResponse,
    response_model_exclude_none=True,
    responses=responses(*SCAN_ERRORS, CgroupNotFound),
    openapi_extra=openapi_body(SummaryRequest),
)
async def summary(request: Request, authorized: AuthorizedSummary) -> SummaryResponse | CgroupSummaryResponse:
    """With ``pid``: a ``SummaryResponse``. With ``cgroup``: a ``CgroupSummaryResponse``, one
    summary per member process (members that exit meanwhile or may not be scanned are
    listed under ``skipped``) and the sum of their pages."""
    body, rule, services = authorized.body, authorized.rule, authorized.services
    pool, kernel, settings = services.pool, services.kernel, services.settings
    deadline = time.monotonic() + settings.scan_timeout_seconds
    options = body.options()

    def open_one(pid: int) -> Scan:
        return open_scan(
            pid, options, authorize=rule, chunk_records=settings.chunk_records, deadline=deadline
        )

    if body.cgroup is not None:
        cgroup = body.cgroup

        def member(pid: int) -> ProcessAccess:
            return track(request, "summary", pid, body=body, format="summary", cgroup=cgroup)

        return await pool.run_leased(
            lambda: summarize_cgroup(cgroup, open_one, kernel.page_size, by_vma=body.by_vma, track=member),
            request.receive,
        )
    pid = body.pid
    assert pid is not None  # SummaryRequest: exactly one of pid and cgroup
    access = track(request, "summary", pid, body=body, format="summary")
    return await pool.run_leased(
        lambda: summarize_process(pid, open_one, kernel.page_size, by_vma=body.by_vma, access=access),
        request.receive,
    )
