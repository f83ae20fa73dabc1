"""Who is asking, and may they: authentication on the protected routes, scopes, and the body
dependencies that authorize a scan.

Authentication (:func:`authenticate`) is the first step of every route declared on a
``protected_router`` (``app.http.routes.routers``), before its dependencies, so every route is
covered by construction but ``/healthz`` and ``/readyz``, which live on the public router. Who a
request acts for is decided by ``app.security.principals`` from its bearer token or Unix-socket
peer.

Then, for each route: :data:`RequireWrite` where the target's state changes (for a scan body,
:data:`AuthorizedScan` and :data:`AuthorizedSummary` check ``WP_MATCHING``'s write scope), and a
rule (:data:`TargetRule`, or the one those two carry) wherever a request names a process:
the deny list (pmscan's own process always) and a peer's ownership. The rule is handed to the
domain, which applies it to the credentials of the very process it opened — checking by pid
beforehand would let a reused pid slip through.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from ..pagemap.categories import ScanFlag
from ..pagemap.policy import Authorize
from ..security.principals import Authenticator, Principal
from ..security.tokens import SCOPES
from ..settings import Settings
from .body import read_body
from .deps import Services
from .schemas import ScanRequest, SummaryRequest, WatchRequest

__all__ = [
    "BEARER",
    "Authorized",
    "AuthorizedScan",
    "AuthorizedSummary",
    "AuthorizedWatch",
    "RequireWrite",
    "TargetRule",
    "authenticate",
    "authorize_body",
    "install",
    "principal_of",
    "require_scope",
    "warn_if_off",
]

log = logging.getLogger("pmscan")

Body = TypeVar("Body", ScanRequest, SummaryRequest, WatchRequest)


def install(app: FastAPI, settings: Settings) -> None:
    """Give ``app`` its :class:`~app.security.principals.Authenticator`."""
    app.state.authenticator = Authenticator(
        enabled=settings.auth == "on",
        token_file=settings.token_file,
        peer_auth=settings.uds is not None and settings.uds_peer_auth == "on",
        deny_pids=settings.deny_pids,
    )


def warn_if_off(settings: Settings) -> None:
    """At startup: say loudly that authentication is off, if it is."""
    if settings.auth == "off":
        log.warning("PMSCAN_AUTH=off: every request is allowed, on any process, without a token")


#: The scheme the OpenAPI document declares on every protected operation (so generated clients
#: send the token); what it describes is checked by :func:`authenticate`, not by FastAPI.
BEARER = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="pmscan_ and 43 base64url characters",
    description="A token from `pmscan-server token add NAME --scopes read[,write]`.",
    auto_error=False,
)


def authenticate(request: Request) -> Principal:
    """The one authentication: who ``request`` acts for, from its bearer token (or its Unix-socket
    peer), or ``Unauthenticated`` (401, in the shape of every other error). Every protected route
    runs it first, before any dependency (``app.http.routes.routers.ProtectedRoute``); the
    dependencies take the principal from the request (:func:`principal_of`)."""
    authorization = request.headers.get("authorization")
    token = None
    if authorization:
        scheme, credentials = get_authorization_scheme_param(authorization)
        if scheme.lower() == "bearer" and credentials:
            token = credentials
    authenticator: Authenticator = request.app.state.authenticator
    principal = authenticator.principal(request.scope, token)
    request.state.principal = principal  # for the audit log and the other dependencies
    return principal


def principal_of(request: Request) -> Principal:
    """The request's principal: set by :func:`authenticate`, which a protected route runs before
    its dependencies; authenticated here if it was not."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal if principal is not None else authenticate(request)


def require_scope(scope: str) -> Any:
    """A dependency that refuses a principal without ``scope`` (``MissingScope``, 403)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def dependency(request: Request) -> None:
        principal_of(request).require(scope)

    dependency.__name__ = f"require_{scope}_scope"
    return Depends(dependency)


RequireWrite = require_scope("write")


async def _target_rule(request: Request) -> Authorize:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator.rule(principal_of(request))


@dataclass(frozen=True)
class Authorized(Generic[Body]):
    """A request body whose flags the principal may use, the per-process rule to apply, and the
    app's services."""

    body: Body
    rule: Authorize
    services: Services


def authorize_body(authenticator: Authenticator, principal: Principal, body: Body) -> Authorize:
    """The rule for ``principal`` and ``body``, if its flags are allowed: ``WP_MATCHING``
    write-protects pages, which changes the target, so it needs the write scope."""
    if body.flags & ScanFlag.WP_MATCHING:
        principal.require("write")
    return authenticator.rule(principal)


def _authorized(model: type[Body]) -> Any:
    """The dependency that reads a ``model`` body (once: ``app.http.body``) and authorizes it."""

    async def dependency(request: Request) -> Authorized[Body]:
        state = request.app.state
        services: Services = state.services
        body = await read_body(request, model, max_bytes=services.settings.max_body_bytes)
        rule = authorize_body(state.authenticator, principal_of(request), body)
        return Authorized(body, rule, services)

    dependency.__name__ = f"authorized_{model.__name__}"
    dependency.body_model = model  # type: ignore[attr-defined]  # what it reads, for the tests
    return Depends(dependency)


#: The per-process rule to hand to the domain (``TargetProcess``/``open_scan``'s ``authorize``):
#: the deny list and a peer's ownership, applied to the process actually opened.
TargetRule = Annotated[Authorize, Depends(_target_rule)]
#: The body, read and validated once, with the rule, once the body's flags are allowed
#: (``WP_MATCHING`` needs the write scope), and the services to answer it with. The route
#: declares the body for the OpenAPI document with ``app.http.body.openapi_body``.
AuthorizedScan = Annotated[Authorized[ScanRequest], _authorized(ScanRequest)]
AuthorizedSummary = Annotated[Authorized[SummaryRequest], _authorized(SummaryRequest)]
AuthorizedWatch = Annotated[Authorized[WatchRequest], _authorized(WatchRequest)]
