"""``pmscan-server``: run the node agent with uvicorn."""

from __future__ import annotations

import argparse
import contextlib
import resource
import signal
import sys
from types import FrameType

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from . import token_command
from .api.shutdown import Shutdown
from .api.tokens import bootstrap
from .main import create_app
from .peer import with_peer_credentials
from .settings import Settings
from .unix_socket import UnixListener, bind_unix_socket, removed_at_exit

__all__ = ["main"]

#: uvicorn's exit status when the server could not start.
STARTUP_FAILURE = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pmscan-server",
        description="Serve ioctl(PAGEMAP_SCAN) over HTTP. Settings come from PMSCAN_* variables.",
    )
    commands = parser.add_subparsers(dest="command", title="commands (default: serve)")
    token_command.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "token":
        return token_command.run(args)
    try:
        settings = Settings()
    except ValidationError as err:
        print(f"pmscan-server: bad settings: {err}", file=sys.stderr)
        return 2
    _raise_open_file_limit()
    app = create_app(settings)
    options: dict[str, object] = {
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
        # The audit log records the peer address: do not let X-Forwarded-For rewrite it.
        "proxy_headers": False,
        # One line per request to stderr as well as the audit log: the audit log is the record.
        "access_log": False,
    }
    if settings.auth == "on":
        _first_start(settings)
    listener: UnixListener | None = None
    if settings.uds is not None:
        try:
            listener = bind_unix_socket(settings.uds, group=settings.uds_group)
        except (OSError, ValueError) as err:
            print(f"pmscan-server: cannot listen on {settings.uds}: {err}", file=sys.stderr)
            return 1
        options["fd"] = listener.fileno()  # bound with its final mode: see app.unix_socket
        if settings.uds_peer_auth == "on":
            options["http"] = with_peer_credentials(AutoHTTPProtocol)
    else:
        options["host"] = settings.host
        options["port"] = settings.port
    if settings.tls_cert is not None:
        options["ssl_certfile"] = str(settings.tls_cert)
        options["ssl_keyfile"] = str(settings.tls_key)
    with removed_at_exit(listener):
        started = _serve(app, options, settings.shutdown_grace_seconds)
    return 0 if started else STARTUP_FAILURE


class _Server(uvicorn.Server):
    """uvicorn's server, which also tells the app when it is asked to stop, so that scan
    streams can end cleanly within the grace period (app.api.shutdown)."""

    def __init__(self, config: uvicorn.Config, shutdown: Shutdown, grace_seconds: int) -> None:
        super().__init__(config)
        self._shutdown = shutdown
        self._grace_seconds = grace_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._shutdown.begin(self._grace_seconds)
        super().handle_exit(sig, frame)


class _Stopped(Exception):
    """SIGTERM, raised again by uvicorn once it has shut down (see ``_serve``)."""


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


def _serve(app: FastAPI, options: dict[str, object], grace_seconds: int) -> bool:
    """Run until stopped (what ``uvicorn.run`` does); whether the server had started."""
    server = _Server(uvicorn.Config(app, **options), app.state.shutdown, grace_seconds)  # type: ignore[arg-type]
    # uvicorn handles SIGTERM while it serves, then raises it again under the handler it found, so
    # that this handler acts after the clean shutdown. The default one would end the process as
    # killed by the signal (exit status 143); a server that stopped cleanly when asked to exits
    # with 0, which is what the kubelet, systemd and `podman stop` expect of it.
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        with contextlib.suppress(KeyboardInterrupt, _Stopped):
            server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return bool(server.started)


def _raise_open_file_limit() -> None:
    """The soft limit of open files up to the hard one (systemd's default soft limit is 1024):
    the exporter keeps two files open per process it counts (app.api.exporter)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _first_start(settings: Settings) -> None:
    """With no token file yet, create one with an admin token, and say where the token is."""
    try:
        admin = bootstrap(settings.token_file)
    except OSError as err:
        print(f"pmscan-server: cannot create the token file {settings.token_file}: {err}", file=sys.stderr)
        return  # every request will be refused (401): the server says why on each reload
    if admin is not None:
        print(
            f"pmscan-server: first start: created the token file {settings.token_file} with one admin "
            f"token (scopes read, write). The token itself is in {admin} (mode 0600): read it, keep "
            "it, delete that file. More tokens: pmscan-server token add NAME --scopes read",
            file=sys.stderr,
        )


if __name__ == "__main__":
    sys.exit(main())
