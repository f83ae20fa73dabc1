"""What ``pmscan`` says when something fails: one line per error, in the command's words.

The server's messages are written for any HTTP client (a missing token is explained with the
``Authorization`` header); here the advice is how to do it with this command.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from .. import InvalidRequest, PmscanError, Unauthenticated
from .formats import error_json

__all__ = ["AMBIGUOUS_HELP", "TOKEN_HELP", "describe", "error_document", "hint"]

#: How to give the command a token.
TOKEN_HELP = (
    "give it with --token-file PATH or in the PMSCAN_TOKEN environment variable (--token TOKEN "
    "works too, but other users see it in ps); on the node, `pmscan-server token add NAME` makes one"
)

#: What to do when a container id prefix names several containers (422 ``AMBIGUOUS_ID``).
AMBIGUOUS_HELP = "give more digits of the id"


def _token_source(args: argparse.Namespace | None) -> str | None:
    """Where the token sent came from (None: none was sent)."""
    if args is not None and getattr(args, "token_file", None) is not None:
        return f"--token-file {args.token_file}"
    if args is not None and getattr(args, "token", None):
        return "--token"
    if os.environ.get("PMSCAN_TOKEN"):
        return "PMSCAN_TOKEN"
    return None


def hint(error: BaseException, args: argparse.Namespace | None = None) -> str | None:
    """The command's advice for ``error``, when it has one."""
    if isinstance(error, Unauthenticated):
        source = _token_source(args)
        if source is None:
            return f"the node needs a token, and none was given: {TOKEN_HELP}"
        return f"the node refused the token of {source}"
    if isinstance(error, InvalidRequest) and error.code == "AMBIGUOUS_ID":
        return AMBIGUOUS_HELP
    return None


def describe(error: BaseException, args: argparse.Namespace | None = None) -> str:
    """An error in one line: its kind, its HTTP status and code, and its message — or, where the
    command has better advice than the server's message (a token), that advice."""
    status = getattr(error, "status", None)
    code = getattr(error, "code", None)
    extra = " ".join(str(part) for part in (f"HTTP {status}" if status else None, code) if part)
    advice = hint(error, args)
    if isinstance(error, Unauthenticated) and advice is not None:
        detail = advice if _token_source(args) is None else f"{advice}: {error}"
        return f"{type(error).__name__} ({extra}): {detail}"
    described = f"{type(error).__name__}: {error}" + (f" ({extra})" if extra else "")
    return described + (f": {advice}" if advice is not None else "")


def error_document(error: PmscanError, args: argparse.Namespace | None = None) -> dict[str, Any]:
    """``--json``'s error: the SDK's fields, and the command's advice as ``hint`` when it has one."""
    document = error_json(error)
    advice = hint(error, args)
    if advice is not None:
        document["hint"] = advice
    return document
