"""The audit log: one JSON line for each access of a request to a process.

A request that touches a process (scan, summary, maps, clear-soft-dirty, watch) has one
:class:`ProcessAccess` per process, made by the HTTP layer (``app.http.observe.track``) and
handed to the service call, which records what it found on it, on the event loop, from what
its scan-thread jobs returned: the process's comm, and the scan's backend, range, regions and
pages (:meth:`ProcessAccess.scanned`), or the error that ended it inside a stream. When the
request is over (for a stream: when its body ends, completed, failed in-band, or cut by the
client) the ``observe`` middleware settles each access's outcome and :class:`AuditLog` writes
it to the ``pmscan.audit`` logger. A summary of a cgroup, a container or a pod makes one access
per process, as does a watch of a container or a pod (one per process it counted, for the
whole watch).

A request that authentication refuses (401 ``UNAUTHENTICATED``, 403 ``SCOPE``) touched no
process, but who tried what matters to whoever reads this log: it gets one line with the
action ``refused``, the route and method instead of a pid (:meth:`AuditLog.write_refusal`).
Refusals by a per-process rule (``DENIED``, ``NOT_OWNER``) are accesses like any other, with
that outcome. Requests refused for their input (422, 413, 415) are in the metrics only.

The caller is ``request.state.principal.name`` when the authentication layer sets a
principal (a token's name, or a peer uid), else ``"anonymous"``.
"""

from __future__ import annotations

import datetime
import json
import logging
import logging.handlers
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from ..pagemap.categories import ScanFlag
from ..pagemap.process import TargetProcess
from ..pagemap.scanner import Scan

__all__ = ["LOGGER", "Action", "AuditLog", "JsonFormatter", "ProcessAccess", "caller_of"]

LOGGER = "pmscan.audit"

Action = Literal["scan", "summary", "maps", "clear_soft_dirty", "watch"]


@dataclass
class ProcessAccess:
    """What one request did to one process. ``start``/``end``/``flags`` are the request's
    until a scan resolves them; ``regions``/``pages`` are what the scan produced. Filled in on
    the event loop only."""

    action: Action
    pid: int
    start: int | None = None
    end: int | None = None
    flags: int = 0
    format: str | None = None
    #: The group the request named, when it named one rather than the process.
    cgroup: str | None = None
    container_id: str | None = None
    pod_uid: str | None = None
    comm: str | None = None
    #: The scan's backend, once a scan was opened (only then: ``regions`` and ``pages``).
    backend: str | None = None
    regions: int | None = None
    pages: int | None = None
    #: An error that ended this access while the request itself answered 200: one
    #: reported inside a stream, or a process skipped by a cgroup summary.
    error: BaseException | None = None
    outcome: str | None = None
    #: Ticks of a watch done (one access, one audit line, per watch).
    ticks: int | None = None
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    seconds: float = 0.0

    def opened(self, target: TargetProcess) -> None:
        """The process was opened: its comm."""
        self.comm = target.comm

    def scanned(self, scan: Scan) -> None:
        """What ``scan`` covered and produced so far (call it again when it is over)."""
        args = scan.args
        self.comm = scan.target.comm
        self.backend = scan.backend.name
        self.start, self.end, self.flags = args.start, args.end, int(args.flags)
        self.regions, self.pages = scan.regions, scan.pages

    def finish(self) -> None:
        """The work on this process is over (before the request's end, in a cgroup summary)."""
        self.ended = time.monotonic()

    def settle(self, outcome: str) -> None:
        """Fix the outcome (``ok``, an error code, ``client_disconnected``) and the duration."""
        self.outcome = outcome
        self.seconds = (self.ended or time.monotonic()) - self.started

    def fields(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "pid": self.pid,
            "comm": self.comm,
            **({"cgroup": self.cgroup} if self.cgroup is not None else {}),
            **({"container_id": self.container_id} if self.container_id is not None else {}),
            **({"pod_uid": self.pod_uid} if self.pod_uid is not None else {}),
            "start": self.start,
            "end": self.end,
            "flags": [f.name for f in ScanFlag if self.flags & f],
            "format": self.format,
            "backend": self.backend,
            "regions": self.regions,
            "pages": self.pages,
            **({"ticks": self.ticks} if self.ticks is not None else {}),
            "outcome": self.outcome,
            "duration_seconds": round(self.seconds, 6),
        }


def caller_of(state: dict[str, Any]) -> str:
    """The principal's name (set by authentication), or ``"anonymous"``."""
    name = getattr(state.get("principal"), "name", None)
    return str(name) if name else "anonymous"


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: ``time`` (RFC 3339, UTC), then its ``audit`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        fields = getattr(record, "audit", None) or {"message": record.getMessage()}
        line = {"time": moment.isoformat(timespec="microseconds").replace("+00:00", "Z"), **fields}
        return json.dumps(line, separators=(",", ":"), ensure_ascii=False)


class AuditLog:
    """Writes accesses to the ``pmscan.audit`` logger, to stderr (``"-"``), a file
    (created ``0600``, appended to, reopened when rotated away) or nowhere (``""``/None).
    """

    def __init__(self, destination: str | None) -> None:
        self.destination = destination or None
        self.logger = logging.getLogger(LOGGER)
        self._handler: logging.Handler | None = None

    @property
    def enabled(self) -> bool:
        return self.destination is not None

    def open(self) -> None:
        """Attach the handler (raises ``OSError`` when the file cannot be opened)."""
        if self.destination is None or self._handler is not None:
            return
        handler: logging.Handler
        if self.destination == "-":
            handler = logging.StreamHandler(sys.stderr)
        else:
            os.close(os.open(self.destination, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600))
            handler = logging.handlers.WatchedFileHandler(self.destination, encoding="utf-8")
        handler.setFormatter(JsonFormatter())
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        self.logger.addHandler(handler)
        self._handler = handler

    def close(self) -> None:
        if self._handler is not None:
            self.logger.removeHandler(self._handler)
            self._handler.close()
            self._handler = None

    def write_refusal(
        self, *, caller: str, client: str | None, route: str, method: str, outcome: str
    ) -> None:
        """A request refused by authentication: it touched no process."""
        if self._handler is None:
            return
        fields = {"caller": caller, "client": client, "action": "refused", "route": route, "method": method}
        self.logger.info("request refused", extra={"audit": {**fields, "outcome": outcome}})

    def write(self, access: ProcessAccess, *, caller: str, client: str | None) -> None:
        if self._handler is None:
            return
        self.logger.info(
            "process access", extra={"audit": {"caller": caller, "client": client, **access.fields()}}
        )
