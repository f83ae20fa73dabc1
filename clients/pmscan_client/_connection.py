"""Where a node is and how to talk to it: URL or Unix socket, token, TLS, timeouts.

One frozen value shared by :class:`~pmscan_client.Client`, :class:`~pmscan_client.AsyncClient`
and the CLI, which reads it from ``PMSCAN_URL``, ``PMSCAN_UDS`` and ``PMSCAN_TOKEN``.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import httpx

__all__ = ["DEFAULT_PORT", "DEFAULT_URL", "Connection"]

DEFAULT_PORT = 6716
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
#: The base URL of requests over a Unix socket: only the path matters there.
_UDS_BASE_URL = "http://pmscan"
_USER_AGENT = "pmscan-client/0.1.0"


@dataclass(frozen=True)
class Connection:
    """How to reach one pmscan node.

    ``url``: ``http(s)://host:port``; ``uds``: a Unix socket path (then ``url`` is unused).
    ``token``: the bearer token. ``verify``: ``False``, ``True`` (the system's CAs), a CA bundle
    path, or an ``ssl.SSLContext``; ``cert``: a client certificate file, or ``(cert, key)``.
    ``server_name``: check the server's certificate for this name instead of the URL's host
    (nodes addressed by IP). ``timeout``: seconds for connecting and for each read.
    """

    url: str = DEFAULT_URL
    uds: str | None = None
    token: str | None = None
    verify: bool | str | ssl.SSLContext = True
    cert: str | tuple[str, str] | None = None
    server_name: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Connection:
        """``PMSCAN_URL``, ``PMSCAN_UDS``, ``PMSCAN_TOKEN``; ``overrides`` that are not None win."""
        env = os.environ if environ is None else environ
        fields: dict[str, Any] = {
            "url": env.get("PMSCAN_URL") or DEFAULT_URL,
            "uds": env.get("PMSCAN_UDS") or None,
            "token": env.get("PMSCAN_TOKEN") or None,
        }
        fields.update({k: v for k, v in overrides.items() if v is not None})
        if overrides.get("url") and not overrides.get("uds"):
            fields["uds"] = None  # an explicit URL beats PMSCAN_UDS
        return cls(**fields)

    def with_url(self, url: str) -> Connection:
        return replace(self, url=url, uds=None)

    @property
    def name(self) -> str:
        """How to name this node in messages: the URL, or ``unix:PATH``."""
        return f"unix:{self.uds}" if self.uds else self.url

    def httpx_options(self, *, asynchronous: bool) -> dict[str, Any]:
        """Keyword arguments of ``httpx.Client`` / ``httpx.AsyncClient`` (without event hooks)."""
        headers = {"User-Agent": _USER_AGENT}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        options: dict[str, Any] = {
            "headers": headers,
            "timeout": httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
        }
        if self.uds:
            transport = httpx.AsyncHTTPTransport if asynchronous else httpx.HTTPTransport
            options["base_url"] = _UDS_BASE_URL
            options["transport"] = transport(uds=self.uds)
        else:
            options["base_url"] = self.url.rstrip("/")
            options["verify"] = self.ssl_context()
        return options

    def ssl_context(self) -> ssl.SSLContext | bool:
        """``True`` for the defaults, else a context with the CA bundle, client certificate, or
        no verification (httpx deprecates passing paths itself)."""
        if self.verify is True and self.cert is None:
            return True
        if isinstance(self.verify, ssl.SSLContext):
            context = self.verify
        elif self.verify is False:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = ssl.create_default_context(cafile=self.verify if isinstance(self.verify, str) else None)
        if self.cert is not None:
            certfile, keyfile = (self.cert, None) if isinstance(self.cert, str) else self.cert
            context.load_cert_chain(certfile, keyfile)
        return context
