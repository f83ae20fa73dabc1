"""Container HEALTHCHECK: exit 0 when the local pmscan server answers GET /healthz with 200, else 1.

It reads the server's own settings (PMSCAN_UDS, PMSCAN_PORT, PMSCAN_TLS_CERT), so the probe follows
the server to its Unix socket or to HTTPS. The certificate is not verified: the probe goes to
127.0.0.1 inside the container, and only liveness is asked. Standard library only (the slim image has
no curl).
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import sys

TIMEOUT_SECONDS = 4.0


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=TIMEOUT_SECONDS)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT_SECONDS)
        sock.connect(self._path)
        self.sock = sock


def _connection(environ: dict[str, str]) -> http.client.HTTPConnection:
    uds = environ.get("PMSCAN_UDS")
    if uds:
        return _UnixHTTPConnection(uds)
    port = int(environ.get("PMSCAN_PORT", "6716"))
    if environ.get("PMSCAN_TLS_CERT"):
        context = ssl._create_unverified_context()  # loopback liveness probe: nothing to verify against
        return http.client.HTTPSConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS, context=context)
    return http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)


def healthy(environ: dict[str, str]) -> bool:
    """Whether GET /healthz of the server that `environ` configures answers 200."""
    connection = _connection(environ)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


if __name__ == "__main__":
    sys.exit(0 if healthy(dict(os.environ)) else 1)
