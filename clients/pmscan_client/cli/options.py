"""The options that several commands share, and what they mean to the SDK.

Connection options become a :class:`~pmscan_client.Connection` (:func:`connection_of`), page
filters the keyword arguments of ``Client.scan`` / ``summary`` / ``watch`` (:func:`filters_of`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import Category, Client, Connection
from .._categories import mask_value
from .addresses import RANGE_HELP, parse_range
from .exits import UsageError

__all__ = ["client_of", "connection_of", "connection_options", "filter_options", "filters_of"]


def connection_options() -> argparse.ArgumentParser:
    """The parent parser of the connection options (and ``--json``)."""
    # SUPPRESS: the options may come before or after the command without overwriting each other.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    group = common.add_argument_group("connection")
    group.add_argument(
        "--url", help="the node, http(s)://HOST:PORT (env PMSCAN_URL; default http://127.0.0.1:6716)"
    )
    group.add_argument("--uds", metavar="PATH", help="the node's Unix socket instead (env PMSCAN_UDS)")
    group.add_argument("--token", help="bearer token (env PMSCAN_TOKEN; prefer --token-file)")
    group.add_argument("--token-file", metavar="PATH", type=Path, help="read the bearer token from PATH")
    group.add_argument("--cacert", metavar="PATH", help="CA bundle to verify the server's certificate")
    group.add_argument("--insecure", action="store_true", help="do not verify the server's certificate")
    group.add_argument("--cert", metavar="PATH", help="client certificate (PEM; may include the key)")
    group.add_argument("--key", metavar="PATH", help="the client certificate's key")
    group.add_argument("--server-name", metavar="NAME", help="verify the certificate for NAME (nodes by IP)")
    group.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="connect and read timeout (default 30)"
    )
    group.add_argument("--json", action="store_true", help="print JSON, for scripts")
    return common


def filter_options(*, without: tuple[Category, ...] = ()) -> argparse.ArgumentParser:
    """The parent parser of the page filters (every category but those ``without``)."""
    filters = argparse.ArgumentParser(add_help=False)
    group = filters.add_argument_group(
        "page filters", "pages that have every category given (--present --written …) are reported"
    )
    for category in Category:
        assert category.name
        if category in without:
            continue
        group.add_argument(
            f"--{category.name.lower().replace('_', '-')}",
            dest="categories",
            action="append_const",
            const=category.name,
            help=f"pages that are {category.name}",
        )
    group.add_argument("--not", dest="inverted", metavar="CATS", help="pages without these (comma-separated)")
    group.add_argument("--any", metavar="CATS", help="pages with at least one of these")
    group.add_argument("--range", metavar="A-B", help=RANGE_HELP)
    group.add_argument(
        "--return", dest="return_mask", metavar="CATS", help="categories to report (default all)"
    )
    group.add_argument("--max-pages", type=int, default=0, metavar="N", help="stop after N matching pages")
    group.add_argument("--backend", choices=("auto", "ioctl", "pagemap"), default="auto")
    return filters


def connection_of(args: argparse.Namespace) -> Connection:
    """The node the options name (the environment fills in what they do not say)."""
    token = getattr(args, "token", None)
    if getattr(args, "token_file", None) is not None:
        token = args.token_file.read_text().strip()
    verify: bool | str | None = getattr(args, "cacert", None)
    if getattr(args, "insecure", False):
        verify = False
    cert = getattr(args, "cert", None)
    if cert and getattr(args, "key", None):
        cert = (cert, args.key)
    return Connection.from_env(
        url=getattr(args, "url", None),
        uds=getattr(args, "uds", None),
        token=token,
        verify=verify,
        cert=cert,
        server_name=getattr(args, "server_name", None),
        timeout=getattr(args, "timeout", None),
    )


def client_of(args: argparse.Namespace) -> Client:
    return Client(connection=connection_of(args))


def filters_of(args: argparse.Namespace) -> dict[str, Any]:
    """The scan/summary keyword arguments of the page filter options."""
    try:
        inverted = mask_value(Category, args.inverted or ())
        fields: dict[str, Any] = {
            "category_mask": mask_value(Category, args.categories or ()) | inverted,
            "category_inverted": inverted,
            "category_anyof_mask": mask_value(Category, args.any or ()),
            "return_mask": None if args.return_mask is None else mask_value(Category, args.return_mask),
            "max_pages": args.max_pages,
            "backend": args.backend,
        }
    except ValueError as err:
        raise UsageError(str(err)) from None
    return fields | parse_range(args.range)
