"""POST /scan and POST /summary: the ioctl over HTTP."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response

from ...pagemap.categories import ScanFlag
from ...pagemap.credentials import Authorize
from ..audit import ProcessAccess, track
from ..auth import AuthorizedScan, AuthorizedSummary
from ..deps import Services, ServicesDep
from ..exception_handlers import PayloadTooLarge
from ..formats import (
    BINARY,
    JSON,
    NDJSON,
    SHORT_NAMES,
    BinaryEncoder,
    NdjsonEncoder,
    choose_format,
    json_region_list,
)
from ..pool import Job
from ..schemas import (
    CgroupSummaryResponse,
    ErrorBody,
    ScanDocument,
    ScanRequest,
    ScanTrailer,
    SummaryResponse,
)
from ..streaming import ScanStreamResponse, scan_kwargs, start_scan, stream_scan
from ..summaries import summarize_cgroup, summarize_process

router = APIRouter(tags=["scan"])

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        401: "missing or wrong token",
        403: "the token lacks the scope, or the kernel denies access to the process",
        404: "no such process, or a kernel thread",
        406: "the Accept header allows none of the formats",
        409: "CHECK_WPASYNC met a page without async write-protection",
        410: "the process exited (or is a zombie), before or during the scan",
        413: "the request body is too large (BODY_TOO_LARGE), or the answer is too large for "
        "application/json (TOO_LARGE): use a streaming format",
        415: "the request body is not JSON",
        501: "the kernel lacks a feature the request needs",
        503: "every scan worker is busy (see Retry-After), or the server is shutting down",
        504: "the scan exceeded the time limit (ETIMEDOUT): scan a smaller range, or stream",
    }.items()
}

SCAN_RESPONSES: dict[int | str, dict[str, Any]] = {
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
    **ERRORS,
}


@router.post(
    "/scan",
    operation_id="scan",
    summary="Scan the pages of a process (ioctl PAGEMAP_SCAN)",
    response_class=Response,
    responses=SCAN_RESPONSES,
    openapi_extra={"x-pmscan-models": [ScanTrailer.__name__, ScanDocument.__name__]},
)
async def scan(
    *,
    authorized: AuthorizedScan,
    request: Request,
    services: ServicesDep,
) -> Response:
    # Most requests never get here: app.api.fastlane answers them (with answer_scan).
    return await answer_scan(request, authorized.body, authorized.rule, services)


async def answer_scan(request: Request, body: ScanRequest, rule: Authorize, services: Services) -> Response:
    """The answer to an authorized scan request, in the format its Accept header asks for."""
    pool, settings = services.pool, services.settings
    media_type = choose_format(request.headers.get("accept"))
    access = track(request, "scan", body.pid, body=body, format=SHORT_NAMES[media_type])
    if media_type == JSON:
        return await _scan_document(body, request, services, access, rule)
    encoder = BinaryEncoder() if media_type == BINARY else NdjsonEncoder()
    running = await start_scan(
        pool,
        body,
        request.receive,
        chunk_records=settings.chunk_records,
        timeout=settings.scan_timeout_seconds,
        encode=encoder.regions,
        access=access,
        authorize=rule,
    )
    if running.scan.done:
        # The whole answer fit in the first chunk (most processes): one plain response with
        # a Content-Length costs far less than the streaming machinery.
        try:
            return Response(running.first + encoder.trailer(running.scan), media_type=media_type)
        finally:
            running.close()
    return ScanStreamResponse(
        stream_scan(running, pool, encoder, shutdown=services.shutdown),
        media_type=media_type,
        headers={"X-Accel-Buffering": "no"},
    )


async def _scan_document(
    body: ScanRequest, request: Request, services: Services, access: ProcessAccess, rule: Authorize
) -> Response:
    """The whole answer as one JSON document (bounded: larger answers must stream)."""
    pool, settings = services.pool, services.settings
    limit = settings.json_max_regions
    fits = body.vec_len is not None and body.vec_len <= limit
    if body.flags & ScanFlag.WP_MATCHING and not fits:
        # Scanning past the limit would write-protect pages that are then never reported.
        raise PayloadTooLarge(
            f"WP_MATCHING with application/json needs vec_len <= {limit}; "
            "use application/x-ndjson or application/octet-stream for larger answers"
        )
    vec_len = body.vec_len if fits else limit + 1
    running = await start_scan(
        pool,
        body,
        request.receive,
        chunk_records=settings.chunk_records,
        timeout=settings.scan_timeout_seconds,
        encode=json_region_list,
        access=access,
        vec_len=vec_len,
        authorize=rule,
    )
    parts = [running.first]
    scan = running.scan
    job: Job[bytes] | None = None
    try:
        while not scan.done:
            job = pool.submit(lambda: json_region_list(scan.next_chunk()))
            parts.append(await job)
            job = None
    finally:
        if job is not None:
            job.after(running.close)  # a scan thread may still be inside the scan: not before
        else:
            running.close()
    if not fits and scan.regions > limit:
        raise PayloadTooLarge(
            f"the answer has more than {limit} regions, the limit of application/json; "
            "use application/x-ndjson or application/octet-stream, or page with vec_len"
        )
    regions = b"".join(parts).rstrip(b",")
    args = scan.args
    document = b'{"pid":%d,"start":%d,"end":%d,"walk_end":%d,"regions":[%s],"pages":%d}' % (
        body.pid,
        args.start,
        args.end,
        scan.walk_end,
        regions,
        scan.pages,
    )
    return Response(document, media_type=JSON)


@router.post(
    "/summary",
    operation_id="summary",
    summary="Count the pages of a process, or of each process of a cgroup, per category (and per mapping)",
    response_model=SummaryResponse | CgroupSummaryResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
)
async def summary(
    *,
    authorized: AuthorizedSummary,
    request: Request,
    services: ServicesDep,
) -> SummaryResponse | CgroupSummaryResponse:
    """With ``pid``: a ``SummaryResponse``. With ``cgroup``: a ``CgroupSummaryResponse``, one
    summary per member process (members that exit meanwhile or may not be scanned are
    listed under ``skipped``) and the sum of their pages."""
    body, rule = authorized.body, authorized.rule
    pool, kernel, settings = services.pool, services.kernel, services.settings
    deadline = time.monotonic() + settings.scan_timeout_seconds
    kwargs = scan_kwargs(body, chunk_records=settings.chunk_records, deadline=deadline, authorize=rule)
    if body.cgroup is not None:
        cgroup = body.cgroup

        def member(pid: int) -> ProcessAccess:
            return track(request, "summary", pid, body=body, format="summary", cgroup=cgroup)

        return await pool.run_leased(
            lambda: summarize_cgroup(cgroup, kwargs, kernel.page_size, by_vma=body.by_vma, track=member),
            request.receive,
        )
    pid = body.pid
    assert pid is not None  # SummaryRequest: exactly one of pid and cgroup
    access = track(request, "summary", pid, body=body, format="summary")
    return await pool.run_leased(
        lambda: summarize_process(pid, kwargs, kernel.page_size, by_vma=body.by_vma, access=access),
        request.receive,
    )
