"""``pmscan-server``: run the node agent with uvicorn (``serve``, the default), manage the
token file without a running server (``token add|list|remove``), or print the OpenAPI document
(``openapi``). ``python -m app`` is the same command.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import sys
from pathlib import Path
from types import FrameType

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from .http.app import create_app, openapi_document
from .security.peers import with_peer_credentials
from .security.tokens import TokenFileError, add_token, bootstrap, read_token_file, remove_token
from .service.shutdown import Shutdown
from .settings import InvalidSettings, Settings, default_token_file
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
    commands.add_parser("serve", help="serve HTTP (the default)")
    _add_token_parser(commands)
    commands.add_parser("openapi", help="print the OpenAPI document the server serves (no server needed)")
    args = parser.parse_args(argv)
    if args.command == "token":
        return _token(args)
    if args.command == "openapi":
        json.dump(openapi_document(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    try:
        settings = Settings.from_environment()
    except InvalidSettings as err:
        for line in err.lines:
            print(f"pmscan-server: {line}", file=sys.stderr)
        return 2
    _raise_open_file_limit()
    app = create_app(settings)
    options: dict[str, object] = {
        "log_level": settings.log_level,
        # Connections still open at three quarters of the grace period are dropped, so that the
        # process exits within it: over TLS an idle keep-alive connection (a scraper's, a client's
        # pool) waits for the peer's close_notify for up to 30 s, and would have the kubelet or
        # `podman stop` kill the server at the end of the grace period instead.
        "timeout_graceful_shutdown": max(1, settings.shutdown_grace_seconds * 3 // 4),
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
    streams can end cleanly within the grace period (app.service.shutdown)."""

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
    the exporter keeps two files open per process it counts (app.export.collector)."""
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


def _add_token_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``token`` command: the token file, without a running server (a running server
    notices the change by itself: it re-reads the file when it changes)."""
    token = commands.add_parser("token", help="manage bearer tokens (the token file)")
    token.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="default: $PMSCAN_TOKEN_FILE, else /var/lib/pmscan/tokens for root, "
        "else $XDG_STATE_HOME/pmscan/tokens",
    )
    actions = token.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="create a token; it is printed once, only its hash is stored")
    add.add_argument("name", help="who the token is for (shown in the audit log)")
    add.add_argument("--scopes", default="read", help="comma-separated: read, write (default: read)")
    actions.add_parser("list", help="the names and scopes of the tokens (never a token)")
    remove = actions.add_parser("remove", help="revoke a token")
    remove.add_argument("name")


def _token_file(args: argparse.Namespace) -> Path:
    if args.token_file is not None:
        return Path(args.token_file)
    configured = os.environ.get("PMSCAN_TOKEN_FILE")
    return Path(configured) if configured else default_token_file()


def _token(args: argparse.Namespace) -> int:
    """Carry out a parsed ``token`` command; the exit status."""
    path = _token_file(args)
    try:
        if args.action == "add":
            token = add_token(path, args.name, args.scopes.split(","))
            print(token)
            print(f"token {args.name!r} added to {path}; it is shown only this once", file=sys.stderr)
        elif args.action == "list":
            entries, problems = read_token_file(path)
            for entry in entries:
                print(f"{entry.name}\t{','.join(sorted(entry.scopes))}")
            for problem in problems:
                print(f"pmscan-server: {path}, {problem} (ignored by the server)", file=sys.stderr)
        elif args.action == "remove":
            if not remove_token(path, args.name):
                print(f"pmscan-server: no token named {args.name!r} in {path}", file=sys.stderr)
                return 1
            print(f"token {args.name!r} removed from {path}", file=sys.stderr)
    except (OSError, TokenFileError) as err:
        print(f"pmscan-server token {args.action}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
