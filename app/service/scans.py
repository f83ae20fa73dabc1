"""The answer to ``POST /scan``: the scan, run in the pool, in the format the client accepts.

NDJSON and raw records stream (or, when the whole answer fits in the first chunk, as most do,
go out as one response with a Content-Length); ``application/json`` is one document, bounded
by ``PMSCAN_JSON_MAX_REGIONS``.
"""

from __future__ import annotations

from dataclasses import replace

from fastapi import Request, Response

from ..pagemap.categories import ScanFlag
from ..pagemap.policy import Authorize
from ..pagemap.session import ScanOptions
from .audit import ProcessAccess, track
from .deps import Services
from .formats import (
    BINARY,
    JSON,
    SHORT_NAMES,
    BinaryEncoder,
    NdjsonEncoder,
    PayloadTooLarge,
    choose_format,
    json_region_list,
)
from .pool import Job
from .schemas import ScanRequest
from .streaming import ScanStreamResponse, start_scan, stream_scan

__all__ = ["answer_scan"]


async def answer_scan(request: Request, body: ScanRequest, rule: Authorize, services: Services) -> Response:
    """The answer to an authorized scan request, in the format its Accept header asks for
    (raises ``NotAcceptable``, ``PayloadTooLarge``, ``Busy`` and the domain's errors)."""
    media_type = choose_format(request.headers.get("accept"))
    access = track(request, "scan", body.pid, body=body, format=SHORT_NAMES[media_type])
    options = body.options()
    if media_type == JSON:
        return await _scan_document(request, body.pid, options, rule=rule, services=services, access=access)
    pool, settings = services.pool, services.settings
    encoder = BinaryEncoder() if media_type == BINARY else NdjsonEncoder()
    running = await start_scan(
        pool,
        body.pid,
        options,
        request.receive,
        authorize=rule,
        chunk_records=settings.chunk_records,
        timeout=settings.scan_timeout_seconds,
        encode=encoder.regions,
        access=access,
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
    request: Request,
    pid: int,
    options: ScanOptions,
    *,
    rule: Authorize,
    services: Services,
    access: ProcessAccess,
) -> Response:
    """The whole answer as one JSON document (bounded: larger answers must stream)."""
    pool, settings = services.pool, services.settings
    limit = settings.json_max_regions
    # A scan of at most N regions, or of at most N pages (each region has at least one), fits.
    fits = (options.vec_len is not None and options.vec_len <= limit) or 0 < options.max_pages <= limit
    if options.flags & ScanFlag.WP_MATCHING and not fits:
        # Scanning past the limit would write-protect pages that are then never reported.
        raise PayloadTooLarge(
            f"WP_MATCHING with application/json needs vec_len or max_pages <= {limit}; "
            "use application/x-ndjson or application/octet-stream for larger answers"
        )
    running = await start_scan(
        pool,
        pid,
        options if fits else replace(options, vec_len=limit + 1),
        request.receive,
        authorize=rule,
        chunk_records=settings.chunk_records,
        timeout=settings.scan_timeout_seconds,
        encode=json_region_list,
        access=access,
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
    args = scan.args
    head = b'{"pid":%d,"start":%d,"end":%d,"walk_end":%d,"regions":[' % (
        pid,
        args.start,
        args.end,
        scan.walk_end,
    )
    # Each part ends with a comma; the last one's is dropped by a view: the regions, megabytes of
    # them, are copied once, into the document.
    last = next((i for i in range(len(parts) - 1, -1, -1) if parts[i]), None)
    pieces: list[bytes | memoryview] = [head, *parts]
    if last is not None:
        pieces[last + 1] = memoryview(parts[last])[:-1]
    pieces.append(b'],"pages":%d}' % scan.pages)
    document = b"".join(pieces)
    return Response(document, media_type=JSON)
