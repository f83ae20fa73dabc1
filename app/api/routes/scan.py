"""POST /scan and POST /summary: the ioctl over HTTP."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from ...pagemap.categories import Category, ScanFlag
from ...pagemap.maps import Mapping
from ...pagemap.session import open_scan
from ...pagemap.summary import Counts, summarize
from ..deps import KernelDep, PoolDep, SettingsDep
from ..exception_handlers import PayloadTooLarge
from ..formats import BINARY, JSON, NDJSON, BinaryEncoder, NdjsonEncoder, choose_format, json_region_list
from ..schemas import ErrorBody, ScanDocument, ScanRequest, ScanTrailer, SummaryRequest, SummaryResponse
from ..streaming import scan_kwargs, start_scan, stream_scan

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
        413: "the answer is too large for application/json: use a streaming format",
        501: "the kernel lacks a feature the request needs",
        503: "every scan worker is busy (see Retry-After)",
    }.items()
}

SCAN_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Page regions. NDJSON (default): one Region per line, then a ScanTrailer line, "
        'or {"error": {"code", "message"}} if the scan failed after the stream began. '
        "application/json: a ScanDocument. application/octet-stream: 24-byte little-endian records "
        "(start, end, categories), then (2^64-1, walk_end, regions), or (2^64-2, errno, 0) on error.",
        "content": {
            NDJSON: {"schema": {"anyOf": [{"$ref": "#/components/schemas/Region"},
                                          {"$ref": "#/components/schemas/ScanTrailer"}]}},
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
async def scan(body: ScanRequest, request: Request, pool: PoolDep, settings: SettingsDep) -> Response:
    media_type = choose_format(request.headers.get("accept"))
    if media_type == JSON:
        return await _scan_document(body, pool, settings.json_max_regions, settings.chunk_records)
    encoder = BinaryEncoder() if media_type == BINARY else NdjsonEncoder()
    running = await start_scan(pool, body, chunk_records=settings.chunk_records, encode=encoder.regions)
    return StreamingResponse(
        stream_scan(running, pool, encoder, timeout=settings.scan_timeout_seconds),
        media_type=media_type,
        headers={"X-Accel-Buffering": "no"},
    )


async def _scan_document(body: ScanRequest, pool: PoolDep, limit: int, chunk_records: int) -> Response:
    """The whole answer as one JSON document (bounded: larger answers must stream)."""
    fits = body.vec_len is not None and body.vec_len <= limit
    if body.flags & ScanFlag.WP_MATCHING and not fits:
        # Scanning past the limit would write-protect pages that are then never reported.
        raise PayloadTooLarge(
            f"WP_MATCHING with application/json needs vec_len <= {limit}; "
            "use application/x-ndjson or application/octet-stream for larger answers"
        )
    vec_len = body.vec_len if fits else limit + 1
    running = await start_scan(pool, body, chunk_records=chunk_records, encode=json_region_list, vec_len=vec_len)
    try:
        parts = [running.first]
        scan = running.scan
        while not scan.done:
            parts.append(await pool.run(lambda: json_region_list(scan.next_chunk())))
    finally:
        running.close()
    if not fits and scan.regions > limit:
        raise PayloadTooLarge(
            f"the answer has more than {limit} regions, the limit of application/json; "
            "use application/x-ndjson or application/octet-stream, or page with vec_len"
        )
    regions = b"".join(parts).rstrip(b",")
    args = scan.args
    document = b'{"pid":%d,"start":%d,"end":%d,"walk_end":%d,"regions":[%s],"pages":%d}' % (
        body.pid, args.start, args.end, scan.walk_end, regions, scan.pages,
    )
    return Response(document, media_type=JSON)


@router.post(
    "/summary",
    operation_id="summary",
    summary="Count the pages of a process per category (and per mapping)",
    response_model=SummaryResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
)
async def summary(body: SummaryRequest, pool: PoolDep, kernel: KernelDep, settings: SettingsDep) -> SummaryResponse:
    kwargs = scan_kwargs(body, chunk_records=settings.chunk_records)
    lease = pool.lease()
    try:
        return await pool.run(lambda: _summarize(body, kwargs, kernel.page_size))
    finally:
        lease.release()


def _summarize(body: SummaryRequest, kwargs: dict[str, Any], page_size: int) -> SummaryResponse:
    scan = open_scan(body.pid, **kwargs)
    try:
        args = scan.args
        mappings: list[Mapping] | None = None
        if body.by_vma:
            mappings = [m for m in scan.target.maps() if m.end > args.start and m.start < args.end]
        result = summarize(scan, page_size, mappings)
    finally:
        scan.close()
    return SummaryResponse(
        pid=body.pid,
        start=args.start,
        end=args.end,
        walk_end=result.walk_end,
        pages=result.total.pages,
        categories=_named(result.total),
        vmas=None
        if result.vmas is None
        else [
            {"start": m.start, "end": m.end, "perms": m.perms, "path": m.path, "pages": c.pages,
             "categories": _named(c)}
            for m, c in result.vmas
        ],
    )


def _named(counts: Counts) -> dict[Any, int]:
    return {Category(c).name: n for c, n in sorted(counts.by_category.items())}
