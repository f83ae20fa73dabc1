"""``pmscan-server token add|list|remove``: manage the token file without a running server.

A running server notices the change by itself (it re-reads the file when it changes).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .security.tokens import TokenFileError, add_token, read_token_file, remove_token
from .settings import default_token_file

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``token`` command and its subcommands to ``commands``."""
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


def run(args: argparse.Namespace) -> int:
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
