"""Where every request ends: counted in the metrics, and audited if it touched a process.

A pure ASGI middleware, outside the routes and the exception handlers, so it sees the
final status and the real end of a streamed body: the last body message sent (the
answer is complete), or the app returning without it (the client went away and the
stream was cancelled). The error the request ended with is the one the exception
handlers put in ``request.state.error``; an error reported inside a stream is on its
:class:`~app.service.audit.ProcessAccess`. A route that touches a process starts that record
with :func:`track` and hands it to its service call.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import code_of
from ..security.principals import MissingScope, Unauthenticated
from ..service.audit import Action, AuditLog, ProcessAccess, caller_of
from ..service.pool import ClientGone
from .metrics import Metrics
from .schemas import ScanRequest

__all__ = ["ObserveRequests", "route_template", "track"]


def track(
    request: Request,
    action: Action,
    pid: int,
    *,
    body: ScanRequest | None = None,
    format: str | None = None,
    cgroup: str | None = None,
    container_id: str | None = None,
    pod_uid: str | None = None,
) -> ProcessAccess:
    """Start the record of an access to ``pid`` by this request (``body``: the scan asked for;
    ``cgroup``, ``container_id``, ``pod_uid``: the group it was asked for in), which the
    middleware settles and audits when the request is over."""
    access = ProcessAccess(
        action, pid, format=format, cgroup=cgroup, container_id=container_id, pod_uid=pod_uid
    )
    if body is not None:
        access.start, access.end, access.flags = body.start, body.end, body.flags
    accesses: list[ProcessAccess] = getattr(request.state, "accesses", None) or []
    accesses.append(access)
    request.state.accesses = accesses
    return access


def route_template(scope: Scope) -> str:
    """The template of the route that served the request (or refused its method: 405), or
    ``unmatched`` for a path no route has (the router's 404). Every other answer, refusals
    included, comes from a route."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"


class ObserveRequests:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, audit: AuditLog) -> None:
        self.app = app
        self.metrics = metrics
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        started = time.monotonic()
        status = 500
        complete = False

        async def observed_send(message: Message) -> None:
            nonlocal status, complete
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                complete = True

        raised: BaseException | None = None
        try:
            await self.app(scope, receive, observed_send)
        except BaseException as exc:
            raised = exc
            raise
        finally:
            error = state.get("error")
            route = route_template(scope)
            self.metrics.observe_request(route, scope["method"], status, time.monotonic() - started, error)
            client = "{}:{}".format(*scope["client"]) if scope.get("client") else None
            accesses = state.get("accesses", ())
            if isinstance(error, Unauthenticated | MissingScope) and not accesses:
                self.audit.write_refusal(
                    caller=caller_of(state),
                    client=client,
                    route=route,
                    method=scope["method"],
                    outcome=error.code,
                )
            for access in accesses:
                outcome_error = error if status >= 400 else None
                self._settle(
                    access,
                    state,
                    error=outcome_error,
                    complete=complete,
                    raised=raised,
                    status=status,
                    client=client,
                )

    def _settle(
        self,
        access: ProcessAccess,
        state: dict[str, Any],
        *,
        error: BaseException | None,
        complete: bool,
        raised: BaseException | None,
        status: int,
        client: str | None,
    ) -> None:
        own = access.error or error
        if isinstance(own, ClientGone):
            outcome = "client_disconnected"  # while waiting for a worker: nothing was scanned
        elif own is not None:
            outcome = code_of(own)
        elif complete:
            outcome = "ok" if status < 400 else f"HTTP_{status}"
        elif raised is None or isinstance(raised, OSError | ClientDisconnect):
            outcome = "client_disconnected"
        else:
            outcome = code_of(raised) if isinstance(raised, Exception) else "cancelled"
            own = raised
        access.settle(outcome)
        self.metrics.observe_access(access, own if isinstance(own, Exception) else None)
        self.audit.write(access, caller=caller_of(state), client=client)
