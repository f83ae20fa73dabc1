"""The process at the other end of a Unix socket: its credentials, handed to each request.

The kernel records who connected to a Unix socket (``SO_PEERCRED``: pid, uid and gid at
``connect()``, unforgeable). An ASGI scope carries no socket, so :func:`with_peer_credentials`
makes a uvicorn HTTP protocol class that reads them once per connection and puts them into the
connection's copy of the lifespan state, which uvicorn copies into every request's
``scope["state"]``; :func:`peer_of` reads them back. TCP connections carry none.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["STATE_KEY", "PeerCredentials", "peer_of", "read_peer_credentials", "with_peer_credentials"]

log = logging.getLogger("pmscan")

STATE_KEY = "pmscan.peer_credentials"
_UCRED = struct.Struct("3i")  # struct ucred {pid_t pid; uid_t uid; gid_t gid;}


class PeerCredentials(NamedTuple):
    pid: int
    uid: int
    gid: int


def read_peer_credentials(sock: Any) -> PeerCredentials | None:
    """``SO_PEERCRED`` of a connected Unix socket (or uvloop's stand-in for one), else ``None``."""
    if sock is None or getattr(sock, "family", None) != socket.AF_UNIX:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except OSError as err:
        log.warning("cannot read the peer credentials of a connection: %s", err)
        return None
    pid, uid, gid = _UCRED.unpack(raw)
    return PeerCredentials(pid, uid & 0xFFFFFFFF, gid & 0xFFFFFFFF)


def with_peer_credentials(base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """A subclass of the uvicorn HTTP protocol ``base`` that hands each request its peer."""

    class PeerCredentialsProtocol(base):  # type: ignore[valid-type,misc]
        app_state: dict[str, Any]

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            peer = read_peer_credentials(transport.get_extra_info("socket"))
            # This connection's own copy: the lifespan state itself is shared by all connections.
            self.app_state = {**self.app_state, STATE_KEY: peer}
            super().connection_made(transport)

    PeerCredentialsProtocol.__qualname__ = f"PeerCredentials{base.__name__}"
    return PeerCredentialsProtocol


def peer_of(scope: Mapping[str, Any]) -> PeerCredentials | None:
    """The peer credentials of the request with ASGI ``scope``, if it came over a Unix socket."""
    peer = scope.get("state", {}).get(STATE_KEY)
    return peer if isinstance(peer, PeerCredentials) else None
