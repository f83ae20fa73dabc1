"""Who a process is: its thread group, its ids and capabilities, from ``/proc/PID``.

Used to decide *whether* a process may be scanned (a deny list, a client that may scan only its
own processes), read through the ``/proc/PID`` directory the scan holds, before anything is
opened that the kernel guards. Any user may read these files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple

from .exceptions import ProcessGone, translate_errors

__all__ = ["Authorize", "ProcessCredentials", "credentials_at", "parse_status"]


class ProcessCredentials(NamedTuple):
    pid: int
    #: The thread group (the process) ``pid`` belongs to: ``/proc/TID`` of any thread reaches it.
    tgid: int
    #: The owner of ``/proc/PID``: the effective uid while the process is dumpable, else 0.
    owner: int
    #: Real, effective, saved and filesystem uid.
    uids: tuple[int, int, int, int]
    cap_permitted: int

    def owned_by(self, uid: int) -> bool:
        """Whether ``uid`` alone stands behind this process, a stricter form of the kernel's own
        ptrace check between two processes of one user: every uid is ``uid``, the process is
        dumpable (it did not change credentials or run a set-id program), and it holds no
        capability."""
        return self.owner == uid and all(u == uid for u in self.uids) and self.cap_permitted == 0


#: A rule deciding whether a process may be acted on: raises to refuse it.
Authorize = Callable[[ProcessCredentials], None]


def parse_status(pid: int, owner: int, text: str) -> ProcessCredentials:
    """The credentials in the text of ``/proc/PID/status``."""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    uids = tuple(int(u) for u in fields["Uid"].split())
    return ProcessCredentials(
        pid=pid,
        tgid=int(fields["Tgid"]),
        owner=owner,
        uids=(uids[0], uids[1], uids[2], uids[3]),
        cap_permitted=int(fields["CapPrm"], 16),
    )


def credentials_at(dir_fd: int, pid: int) -> ProcessCredentials:
    """The credentials of the process whose open ``/proc/PID`` directory is ``dir_fd``: for a
    check that must concern exactly the process opened (no pid reuse in between)."""
    owner = os.fstat(dir_fd).st_uid
    with translate_errors("read", f"/proc/{pid}/status"):
        fd = os.open("status", os.O_RDONLY | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            text = os.read(fd, 1 << 16).decode(errors="replace")
        finally:
            os.close(fd)
    try:
        return parse_status(pid, owner, text)
    except (KeyError, ValueError, IndexError):
        raise ProcessGone(f"process {pid} exited while its status was read") from None
