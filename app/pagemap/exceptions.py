"""What an errno means, decided in one place.

The C layer raises only ``OSError``; :func:`translate_errors` turns it into one of the
domain exceptions below, according to the operation that failed (``EPERM`` from
opening ``/proc/PID/pagemap`` is a denied access, from the scan itself a mapping
without async write-protection).

Each error declares the HTTP status the service answers it with (see ``app.errors``): a plain
number, so that no table elsewhere has to repeat it.
"""

from __future__ import annotations

import errno
import os
from types import TracebackType
from typing import Literal

from ..errors import PmscanError

__all__ = [
    "AccessDenied",
    "AmbiguousContainer",
    "CgroupNotFound",
    "ContainerNotFound",
    "Denied",
    "InvalidScan",
    "NotOwner",
    "NotWPAsync",
    "Operation",
    "PagemapError",
    "PodNotFound",
    "ProcessGone",
    "ProcessNotFound",
    "Refused",
    "ScanTimeout",
    "Unsupported",
    "translate_errors",
]

Operation = Literal["open", "scan", "read", "clear_refs"]


class PagemapError(PmscanError):
    """Base of what the kernel or a scan meets: ``code`` is an errno name or a short upper-case code."""

    code = "ERROR"


class ProcessNotFound(PagemapError):
    """No such process, or a kernel thread (it has no user memory)."""

    status = 404
    code = "ESRCH"


class ProcessGone(PagemapError):
    """The process exited (or is a zombie) before or during the operation."""

    status = 410
    code = "EXITED"


class AccessDenied(PagemapError):
    """The kernel refused access to the process (ptrace access check, file mode)."""

    status = 403
    code = "EACCES"


class Refused(PmscanError):
    """Base of the refusals of pmscan's own per-process rule (abstract): unlike
    :class:`AccessDenied`, decided by pmscan (:mod:`.policy`), not by the kernel."""

    status = 403
    code = "FORBIDDEN"


class Denied(Refused):
    """The process is on the deny list (pmscan itself always is)."""

    code = "DENIED"


class NotOwner(Refused):
    """A Unix-socket peer asked about a process that is not its own."""

    code = "NOT_OWNER"


class NotWPAsync(PagemapError):
    """``CHECK_WPASYNC`` met a mapping not registered for async write-protection."""

    status = 409
    code = "EPERM"


class Unsupported(PagemapError):
    """The running kernel lacks what the request needs."""

    status = 501
    code = "UNSUPPORTED"


class ScanTimeout(PagemapError):
    """The scan ran past its deadline (checked between kernel calls: one call is never cut)."""

    status = 504
    code = "ETIMEDOUT"


class CgroupNotFound(PagemapError):
    """No such control group in a hierarchy mounted here."""

    status = 404
    code = "ENOENT"


class ContainerNotFound(PagemapError):
    """No process of this node is in a container with this id."""

    status = 404
    code = "NO_SUCH_CONTAINER"


class PodNotFound(PagemapError):
    """No process of this node is in a container of a pod with this UID."""

    status = 404
    code = "NO_SUCH_POD"


class AmbiguousContainer(PagemapError):
    """The container id prefix matches several containers of this node."""

    status = 422
    code = "AMBIGUOUS_ID"


class InvalidScan(PagemapError):
    """The kernel rejected the scan arguments (the service validates first; a safety net)."""

    status = 422
    code = "EINVAL"


_MEANING: dict[tuple[Operation, int], type[PagemapError]] = {
    ("open", errno.ENOENT): ProcessNotFound,
    ("open", errno.ESRCH): ProcessNotFound,
    ("open", errno.EACCES): AccessDenied,
    ("open", errno.EPERM): AccessDenied,
    ("read", errno.ENOENT): ProcessGone,
    ("read", errno.ESRCH): ProcessGone,
    ("read", errno.EACCES): AccessDenied,
    ("read", errno.EPERM): AccessDenied,
    ("scan", errno.EPERM): NotWPAsync,
    ("scan", errno.ESRCH): ProcessGone,
    ("scan", errno.ENOTTY): Unsupported,
    ("scan", errno.EINVAL): InvalidScan,
    ("scan", errno.EFAULT): InvalidScan,
    ("clear_refs", errno.ENOENT): ProcessGone,
    ("clear_refs", errno.ESRCH): ProcessGone,
    ("clear_refs", errno.EACCES): AccessDenied,
    ("clear_refs", errno.EPERM): AccessDenied,
    ("clear_refs", errno.EINVAL): Unsupported,
}


def error_for(operation: Operation, err: OSError, subject: str) -> PagemapError | OSError:
    """The domain exception for ``err`` raised by ``operation`` on ``subject``, or ``err``."""
    kind = _MEANING.get((operation, err.errno or 0))
    if kind is None:
        return err
    name = errno.errorcode.get(err.errno or 0, "EIO")
    message = f"{operation} {subject}: {os.strerror(err.errno or 0)}"
    if kind is ProcessGone:
        return kind(f"{subject} exited ({name} on {operation})")
    if kind is ProcessNotFound:
        return kind(f"no such process: {subject}")
    if kind is NotWPAsync:
        # The kernel's EPERM says only "Operation not permitted": say what CHECK_WPASYNC found.
        return kind(
            f"{subject}: the range has memory without async write-protection (a mapping not "
            "registered with userfaultfd in UFFDIO_REGISTER_MODE_WP with UFFD_FEATURE_WP_ASYNC), "
            "which CHECK_WPASYNC refuses; without CHECK_WPASYNC, WP_MATCHING skips such memory"
        )
    return kind(message, code=name if kind in (AccessDenied, InvalidScan) else None)


class translate_errors:  # noqa: N801 (used as a function: ``with translate_errors(...)``)
    """Re-raise an ``OSError`` from the block as the domain exception for its errno.

    A class, not a generator under ``contextmanager``: the exporter enters one around every
    process of every collection, and a generator's context costs several times as much."""

    __slots__ = ("operation", "subject")

    def __init__(self, operation: Operation, subject: str) -> None:
        self.operation: Operation = operation
        self.subject = subject

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(err, OSError):
            translated = error_for(self.operation, err, self.subject)
            if translated is not err:
                raise translated from err
