"""Graceful shutdown: how in-flight scan streams end when the server is asked to stop.

On SIGTERM uvicorn stops accepting connections and waits up to the grace period for
running requests, then cancels them; a stream cut that way ends without its trailer
(the HTTP chunked framing is broken too, so clients see the cut). To end streams
cleanly instead, the server calls :meth:`Shutdown.begin` from its signal handler: a
stream still running after half of the grace period ends at its next chunk with the
error line ``ESHUTDOWN`` (docs/api.md), leaving the other half to deliver what is buffered.
JSON and summary answers, which are bounded by the scan time limit, run to completion.
"""

from __future__ import annotations

import time

from ..pagemap.exceptions import PagemapError

__all__ = ["Shutdown", "ShuttingDown"]


class ShuttingDown(PagemapError):
    """The server is shutting down: the stream ends here (the scan was not finished)."""

    status = 503
    code = "ESHUTDOWN"


class Shutdown:
    """Whether, and from when, streams must end. Safe to call from a signal handler."""

    def __init__(self) -> None:
        self._streams_end_at: float | None = None

    def begin(self, grace_seconds: float) -> None:
        """The server stops within ``grace_seconds``: streams end after half of it."""
        if self._streams_end_at is None:
            self._streams_end_at = time.monotonic() + grace_seconds / 2

    @property
    def ending_streams(self) -> bool:
        return self._streams_end_at is not None and time.monotonic() >= self._streams_end_at

    def error(self) -> ShuttingDown:
        return ShuttingDown("the server is shutting down; the scan was not finished (retry it)")
