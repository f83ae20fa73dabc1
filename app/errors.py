"""The base of every error pmscan answers with, each declaring its HTTP status and code once.

An error class says, as class attributes, the HTTP ``status`` it is answered with and its
``code`` (an errno name or a short upper-case code; an instance may carry a more precise one,
``EPERM`` rather than ``EACCES``); its docstring's first line describes it. Everything else
derives from that declaration: the exception handler (``app.http.exception_handlers``), each
route's OpenAPI ``responses`` (the errors that route can raise), and from ``openapi.json`` the
SDK's table. A new error is a new subclass; nothing else needs to list it.

Plain Python, no framework: the domain (``app.pagemap``) raises these too.
"""

from __future__ import annotations

import errno
from typing import ClassVar

__all__ = ["PmscanError", "code_of"]


class PmscanError(Exception):
    """Base of every error pmscan answers with (abstract: raise a subclass)."""

    #: The HTTP status of the answer; 499 (nginx's "client closed request") is never delivered.
    status: ClassVar[int] = 500
    code: str = "INTERNAL"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def headers(self) -> dict[str, str] | None:
        """Headers the error response carries (``Retry-After``, ``WWW-Authenticate``)."""
        return None

    @classmethod
    def description(cls) -> str:
        """What the error means: the first line of its docstring."""
        return (cls.__doc__ or cls.__name__).strip().splitlines()[0].rstrip(".")


def code_of(exc: BaseException) -> str:
    """The ``code`` of the error body, the in-band error and the audit log for ``exc``."""
    if isinstance(exc, PmscanError):
        return exc.code
    if isinstance(exc, OSError) and exc.errno:
        return errno.errorcode.get(exc.errno, "EIO")
    return "INTERNAL"
