"""``pmscan``'s entry points: :func:`main` runs the handler the arguments name and turns what it
raises into a message on stderr and an exit code (:mod:`.exits`); :func:`run` is the console
script around it.

The node comes from ``--url`` / ``--uds`` or ``PMSCAN_URL`` / ``PMSCAN_UDS`` (default
``http://127.0.0.1:6716``), the token from ``--token-file`` / ``--token`` or ``PMSCAN_TOKEN``.
"""

from __future__ import annotations

import signal
import sys
from typing import NoReturn, TextIO

from .. import PmscanError
from .commands import Handler, dump
from .exits import EXIT_USAGE, UsageError, exit_code
from .messages import describe, error_document
from .parser import build_parser

__all__ = ["main", "run"]


def main(argv: list[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run ``pmscan`` with ``argv``; return the exit code (argparse exits 2 itself on bad usage)."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args, out, err)
    except UsageError as usage:
        err.write(f"pmscan: error: {usage}\n")
        return EXIT_USAGE
    except PmscanError as error:
        if getattr(args, "json", False):
            dump({"error": error_document(error, args)}, err)
        else:
            err.write(f"pmscan: {describe(error, args)}\n")
        return exit_code(error)
    except OSError as error:  # --token-file, --cacert, --cert
        err.write(f"pmscan: {error}\n")
        return EXIT_USAGE


def run() -> NoReturn:
    """The console script: dies quietly of SIGPIPE (``pmscan scan 1 | head``), 130 on Ctrl-C."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
