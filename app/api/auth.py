"""Who is asking, and may they: bearer tokens, Unix-socket peers, scopes, and per-process rules.

Authentication hangs on the ``protected`` router (:func:`authenticate`), so every route under it
is covered by construction; ``/healthz`` and ``/readyz`` live on the public router. A request is
one :class:`Principal`:

- a bearer token from the token file: its name and scopes, any process;
- with ``PMSCAN_UDS_PEER_AUTH=on``, a client on the Unix socket without a token: root gets both
  scopes on any process; any other uid both scopes on the processes it owns only — what the
  kernel would let it do by itself, served the way ``criu service`` serves unprivileged clients;
- with ``PMSCAN_AUTH=off``, everyone gets everything.

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
from starlette.types import Scope

from ..errors import PmscanError
from ..pagemap.categories import ScanFlag
from ..pagemap.policy import Authorize, process_rule
from ..peer import peer_of
from ..settings import Settings
from .body import read_body
from .deps import Services
from .schemas import ScanRequest, SummaryRequest, WatchRequest
from .tokens import SCOPES, TokenStore

__all__ = [
    "AuthError",
    "Authenticator",
    "Authorized",
    "AuthorizedScan",
    "AuthorizedSummary",
    "AuthorizedWatch",
    "BearerAuthentication",
    "MissingScope",
    "Principal",
    "PrincipalDep",
    "RequireWrite",
    "TargetRule",
    "Unauthenticated",
    "authenticate",
    "authorize_body",
    "install",
    "principal_of",
    "require_scope",
    "warn_if_off",
]

log = logging.getLogger("pmscan")

Body = TypeVar("Body", ScanRequest, SummaryRequest, WatchRequest)


class AuthError(PmscanError):
    """Base of the refusals decided here (abstract)."""

    status = 403
    code = "FORBIDDEN"


class Unauthenticated(AuthError):
    """No bearer token, or one the token file does not hold (with ``WWW-Authenticate: Bearer``)."""

    status = 401
    code = "UNAUTHENTICATED"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="pmscan"'}


class MissingScope(AuthError):
    """The token (or peer) lacks the scope the operation needs (WP_MATCHING needs write)."""

    code = "SCOPE"


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a token's name, ``peer uid N``, or ``anonymous`` (auth off)."""

    name: str
    scopes: frozenset[str]
    #: Only the processes this uid owns; ``None``: any process.
    uid: int | None = None

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise MissingScope(f"{self.name} lacks the {scope!r} scope this operation needs")


class Authenticator:
    """The settings' rules of authentication, held by the app for the requests."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.auth == "on"
        self.peer_auth = settings.uds is not None and settings.uds_peer_auth == "on"
        self.tokens = TokenStore(settings.token_file)
        self.deny_pids = frozenset(settings.deny_pids)

    def principal(self, scope: Scope, token: str | None) -> Principal:
        """Who the request with this ASGI ``scope`` and bearer ``token`` (if any) acts for."""
        if not self.enabled:
            return Principal("anonymous", SCOPES)
        if token is not None:
            entry = self.tokens.verify(token)
            if entry is None:
                raise Unauthenticated("the bearer token is not valid")
            return Principal(entry.name, entry.scopes)
        peer = peer_of(scope) if self.peer_auth else None
        if peer is not None:
            return Principal(f"peer uid {peer.uid}", SCOPES, uid=None if peer.uid == 0 else peer.uid)
        raise Unauthenticated("a bearer token is required (Authorization: Bearer pmscan_...)")

    def rule(self, principal: Principal) -> Authorize:
        """The per-process rule for ``principal``: refuse a process on the deny list, or one
        the principal may not see (``app.pagemap.policy``)."""
        return process_rule(deny=self.deny_pids, uid=principal.uid)


def install(app: FastAPI, settings: Settings) -> None:
    """Give ``app`` its :class:`Authenticator`."""
    app.state.authenticator = Authenticator(settings)


def warn_if_off(settings: Settings) -> None:
    """At startup: say loudly that authentication is off, if it is."""
    if settings.auth == "off":
        log.warning("PMSCAN_AUTH=off: every request is allowed, on any process, without a token")


class BearerAuthentication(HTTPBearer):
    """The one authentication: the protected router's dependency, and as an ``HTTPBearer`` the
    scheme the OpenAPI document declares on every route under it (so generated clients send
    the token). The 401 is ours, in the shape of every other error.

    FastAPI solves a dependency's own dependencies on every request, even when its result is
    cached: this one needs nothing but the request, and the other dependencies take its
    principal from the request (:func:`principal_of`) rather than depending on it again.
    """

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        return _authenticate(request)


def _authenticate(request: Request) -> Principal:
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


authenticate = BearerAuthentication(
    scheme_name="bearer",
    bearerFormat="pmscan_ and 43 base64url characters",
    description="A token from `pmscan-server token add NAME --scopes read[,write]`.",
    auto_error=False,
)


def principal_of(request: Request) -> Principal:
    """The request's principal: set by :data:`authenticate`, which FastAPI solves first (a
    router's dependencies come before a route's); authenticated here if it was not."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal if principal is not None else _authenticate(request)


PrincipalDep = Annotated[Principal, Depends(authenticate)]


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
    """The dependency that reads a ``model`` body (once: ``app.api.body``) and authorizes it."""

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
#: declares the body for the OpenAPI document with ``app.api.body.openapi_body``.
AuthorizedScan = Annotated[Authorized[ScanRequest], _authorized(ScanRequest)]
AuthorizedSummary = Annotated[Authorized[SummaryRequest], _authorized(SummaryRequest)]
AuthorizedWatch = Annotated[Authorized[WatchRequest], _authorized(WatchRequest)]
