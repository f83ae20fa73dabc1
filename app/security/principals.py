"""Who a request acts for (a :class:`Principal`), what it may do (its scopes), and the
per-process rule it brings to the domain.

A request is one principal:

- a bearer token from the token file: its name and scopes, any process;
- with ``PMSCAN_UDS_PEER_AUTH=on``, a client on the Unix socket without a token: root gets both
  scopes on any process; any other uid both scopes on the processes it owns only — what the
  kernel would let it do by itself, served the way ``criu service`` serves unprivileged clients;
- with ``PMSCAN_AUTH=off``, everyone gets everything.

Plain Python: the HTTP layer (``app.http.auth``) reads the bearer token and the Unix-socket peer
of a request, and answers the refusals raised here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PmscanError
from ..pagemap.policy import Authorize, process_rule
from .peers import peer_of
from .tokens import SCOPES, TokenStore

__all__ = ["AuthError", "Authenticator", "MissingScope", "Principal", "Unauthenticated"]


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
    """The rules of authentication: on or off, the token file, whether a Unix-socket peer
    without a token is a principal, and the deny list every principal's rule applies."""

    def __init__(
        self, *, enabled: bool, token_file: Path, peer_auth: bool = False, deny_pids: Collection[int] = ()
    ) -> None:
        self.enabled = enabled
        self.peer_auth = peer_auth
        self.tokens = TokenStore(token_file)
        self.deny_pids = frozenset(deny_pids)

    def principal(self, scope: Mapping[str, Any], token: str | None) -> Principal:
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
