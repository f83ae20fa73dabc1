"""Whether a process may be acted on: who it is (its thread group, ids and capabilities, from
``/proc/PID``), and pmscan's rule (:func:`process_rule`: the deny list, and ownership for a
client that may act only on its own processes).

The credentials are read through the ``/proc/PID`` directory the scan holds, before anything is
opened that the kernel guards, so the rule concerns exactly the process opened (checking by pid
beforehand would let a reused pid slip through). Any user may read these files. The rule raises
:class:`~.exceptions.Denied` or :class:`~.exceptions.NotOwner`, refusals of the domain like the
kernel's :class:`~.exceptions.AccessDenied`.

``/proc/PID/status`` is read only when a rule asks for what only it holds (the uids and
capabilities): the kernel formats some sixty lines for it, which cost more than the scan of a
small process, and most rules (a token's, the deny list) never look at them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from functools import cached_property

from .exceptions import Denied, NotOwner, ProcessGone, translate_errors

__all__ = [
    "Authorize",
    "ProcessCredentials",
    "ProcessRule",
    "by_pid",
    "check",
    "credentials_at",
    "parse_status",
    "process_rule",
]


class ProcessCredentials:
    """The credentials of one process; ``status`` gives the text of its ``/proc/PID/status``
    (called at most once, when :attr:`uids` or :attr:`cap_permitted` is first asked for)."""

    def __init__(self, pid: int, tgid: int, owner: int, status: Callable[[], str]) -> None:
        self.pid = pid
        #: The thread group (the process) ``pid`` belongs to: ``/proc/TID`` of any thread reaches it.
        self.tgid = tgid
        #: The owner of ``/proc/PID``: the effective uid while the process is dumpable, else 0.
        self.owner = owner
        self._status = status

    @cached_property
    def _fields(self) -> dict[str, str]:
        fields = _status_fields(self._status())
        if "Uid" not in fields or "CapPrm" not in fields:
            raise ProcessGone(f"process {self.pid} exited while its status was read")
        return fields

    @property
    def uids(self) -> tuple[int, int, int, int]:
        """Real, effective, saved and filesystem uid."""
        try:
            real, effective, saved, filesystem = (int(u) for u in self._fields["Uid"].split())
        except ValueError:
            raise ProcessGone(f"process {self.pid} exited while its status was read") from None
        return real, effective, saved, filesystem

    @property
    def cap_permitted(self) -> int:
        try:
            return int(self._fields["CapPrm"], 16)
        except ValueError:
            raise ProcessGone(f"process {self.pid} exited while its status was read") from None

    def seal(self) -> None:
        """The directory read from is no longer held: what was not read yet cannot be."""

        def released() -> str:
            raise RuntimeError(f"the credentials of process {self.pid} were asked for after the check")

        self._status = released

    def owned_by(self, uid: int) -> bool:
        """Whether ``uid`` alone stands behind this process, a stricter form of the kernel's own
        ptrace check between two processes of one user: every uid is ``uid``, the process is
        dumpable (it did not change credentials or run a set-id program), and it holds no
        capability."""
        return self.owner == uid and all(u == uid for u in self.uids) and self.cap_permitted == 0


#: A rule deciding whether a process may be acted on: raises to refuse it.
Authorize = Callable[[ProcessCredentials], None]


class ProcessRule:
    """pmscan's rule (:func:`process_rule`)."""

    __slots__ = ("_deny", "_own", "_uid")

    def __init__(self, *, deny: Collection[int], uid: int | None) -> None:
        self._own = os.getpid()
        self._deny = frozenset(deny)
        self._uid = uid

    @property
    def uid(self) -> int | None:
        """The uid that alone must stand behind a process (None: any owner). Fixed: an answer
        :attr:`by_pid` gave holds for the rule's life."""
        return self._uid

    @property
    def by_pid(self) -> bool:
        """Whether the answer depends on the process's pid alone (no ``uid``: the process's
        owner, ids and capabilities are never looked at), so it holds for as long as the same
        process is known to run under that pid."""
        return self._uid is None

    def __call__(self, target: ProcessCredentials) -> None:
        if target.tgid == self._own:
            raise Denied(f"process {target.pid} is pmscan itself")
        if {target.pid, target.tgid} & self._deny:
            raise Denied(f"process {target.pid} is on the deny list (PMSCAN_DENY_PIDS)")
        if self._uid is not None and not target.owned_by(self._uid):
            raise NotOwner(f"process {target.pid} is not a process of uid {self._uid} alone")


def process_rule(*, deny: Collection[int] = (), uid: int | None = None) -> ProcessRule:
    """The rule that refuses pmscan's own process and those on ``deny`` (``Denied``) and, with
    ``uid``, a process that ``uid`` alone does not stand behind (``NotOwner``).

    A thread id reaches its whole process through ``/proc/TID``, so the thread group is
    what is compared.
    """
    return ProcessRule(deny=deny, uid=uid)


def by_pid(authorize: Authorize) -> bool:
    """Whether ``authorize`` is pmscan's rule and answers by the pid alone
    (:attr:`ProcessRule.by_pid`): any other rule may look at anything."""
    return isinstance(authorize, ProcessRule) and authorize.by_pid


def check(authorize: Authorize, credentials: ProcessCredentials) -> None:
    """Apply ``authorize`` to ``credentials``, then seal them: the files they read from are
    no longer known to be that process's once the caller goes on."""
    try:
        authorize(credentials)
    finally:
        credentials.seal()


def parse_status(pid: int, owner: int, text: str) -> ProcessCredentials:
    """The credentials in the text of ``/proc/PID/status`` (read by any other means)."""
    return ProcessCredentials(pid, int(_status_fields(text)["Tgid"]), owner, lambda: text)


def _status_fields(text: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def credentials_at(dir_fd: int, pid: int) -> ProcessCredentials:
    """The credentials of the process whose open ``/proc/PID`` directory is ``dir_fd``: for a
    check that must concern exactly the process opened (no pid reuse in between).

    ``pid`` must be a thread-group leader (the caller holds a pidfd of it: only a process has
    one), so it is its own thread group.
    """

    def status() -> str:
        with translate_errors("read", f"/proc/{pid}/status"):
            fd = os.open("status", os.O_RDONLY | os.O_CLOEXEC, dir_fd=dir_fd)
            try:
                return os.read(fd, 1 << 16).decode(errors="replace")
            finally:
                os.close(fd)

    return ProcessCredentials(pid, pid, os.fstat(dir_fd).st_uid, status)
