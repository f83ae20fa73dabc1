"""What the exit status of ``pmscan`` means: :data:`HELP` says it to people (the end of
``pmscan --help``), :data:`EXIT_CODES` maps the SDK's exceptions to it."""

from __future__ import annotations

from .. import (
    AccessDenied,
    Busy,
    InvalidRequest,
    NotAcceptable,
    NotWPAsync,
    PayloadTooLarge,
    ProcessGone,
    ProcessNotFound,
    TransportError,
    Unauthenticated,
    Unsupported,
    UnsupportedMediaType,
)

__all__ = [
    "EXIT_CODES",
    "EXIT_ERROR",
    "EXIT_NOT_FOUND",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "HELP",
    "UsageError",
    "exit_code",
]

EXIT_ERROR, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_PARTIAL = 1, 2, 3, 8
#: Exception → exit code (looked up along the exception's MRO; anything else is 1).
EXIT_CODES: dict[type[Exception], int] = {
    InvalidRequest: 2,
    NotAcceptable: 2,
    PayloadTooLarge: 2,
    UnsupportedMediaType: 2,
    ProcessNotFound: EXIT_NOT_FOUND,
    ProcessGone: 3,
    Unauthenticated: 4,
    AccessDenied: 4,
    Unsupported: 5,
    NotWPAsync: 5,
    Busy: 6,
    TransportError: 7,
}
#: The codes as ``pmscan --help`` ends with them (a test holds them to :data:`EXIT_CODES`).
HELP = """\
Exit codes:
  0  success
  1  any other error: the server failed (5xx), a stream was cut short, …
  2  usage: bad arguments, or the server rejected the request (422, 406, 413, 415)
  3  no such process, container or pod (404), or it exited (410); fleet: no node runs it
  4  unauthenticated (401) or access denied (403)
  5  the kernel lacks a feature (501), or CHECK_WPASYNC failed (409)
  6  the node stayed busy (429, 503) through the retries
  7  the node could not be reached, or did not answer in time
  8  fleet: some nodes failed (their errors on stderr; the others' answers printed)
"""


class UsageError(Exception):
    """A bad argument found after parsing (exit 2)."""


def exit_code(error: BaseException) -> int:
    for kind in type(error).__mro__:
        if kind in EXIT_CODES:
            return EXIT_CODES[kind]
    return EXIT_ERROR
