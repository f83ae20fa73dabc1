"""The wire format of ``POST /watch``: one :class:`WatchTick` per NDJSON line, then the
trailer ``{"ticks": N}`` or an error line; and the request body and timeout of a watch.

The generated client reads whole bodies; a watch lasts ``count x interval_seconds``, so
:meth:`Client.watch` and :meth:`AsyncClient.watch` read its lines as they come, over
``httpx`` directly (the request body is still built by the generated ``WatchRequest``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from ._categories import Category
from ._errors import IncompleteResponse, ServerError, error_for_code
from ._generated.models import WatchRequest
from ._models import category_counts

__all__ = ["NDJSON", "WatchTick", "incomplete", "parse_line", "watch_body", "watch_timeout"]

NDJSON = "application/x-ndjson"


@dataclass(frozen=True)
class WatchTick:
    """One tick of a watch: the counts ``/summary`` would give at ``time`` (UNIX seconds,
    when the tick's scan began). ``late``: the scan was still running when the next tick was
    due (the next one then started late; no tick is ever skipped or merged)."""

    tick: int
    time: float
    late: bool
    pages: int
    categories: dict[Category, int]
    #: A workload's tick: the processes it counted (those the container or pod had then), and
    #: those it left out (exited meanwhile, or refused); None in a process's watch.
    processes: int | None = None
    skipped: int | None = None


def watch_body(
    target: dict[str, Any], interval_seconds: float, count: int, fields: dict[str, Any]
) -> dict[str, Any]:
    """The JSON body for ``target`` (``{"pid": …}``, ``{"container_id": …}`` or
    ``{"pod_uid": …}``), checked by the generated model."""
    document = {**target, "interval_seconds": interval_seconds, "count": count, **fields}
    body: dict[str, Any] = WatchRequest.from_dict(document).to_dict()
    return body


def watch_timeout(interval_seconds: float, timeout: httpx.Timeout) -> httpx.Timeout:
    """The connection's timeouts, with a read timeout that outlasts the wait between two ticks."""
    read = timeout.read
    return httpx.Timeout(
        connect=timeout.connect,
        read=None if read is None else read + interval_seconds,
        write=timeout.write,
        pool=timeout.pool,
    )


def parse_line(line: str) -> WatchTick | int | None:
    """A tick, the trailer's tick count (an ``int``), or ``None`` for a blank line; raises the
    exception of an error line (``ProcessGone`` for ``EXITED``, ``Busy`` for ``ESHUTDOWN``)."""
    if not line.strip():
        return None
    try:
        document = json.loads(line)
        if "tick" in document:
            return WatchTick(
                tick=document["tick"],
                time=document["time"],
                late=document["late"],
                pages=document["pages"],
                categories=category_counts(document["categories"]),
                processes=document.get("processes"),
                skipped=document.get("skipped"),
            )
        if "ticks" in document:
            ticks: int = document["ticks"]
            return ticks
        error = document["error"]
        code, message = error["code"], error["message"]
    except (KeyError, TypeError, ValueError) as err:
        raise ServerError(f"the watch's answer does not match the API: {line[:200]!r}") from err
    raise error_for_code(code, message)


def incomplete() -> IncompleteResponse:
    return IncompleteResponse("the watch ended without its trailer line (the stream was cut short)")
