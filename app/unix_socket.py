"""The listening Unix socket, created with its final permissions before anyone can connect.

uvicorn's own ``uds=`` binds the socket and then makes it mode 0666: for a moment (or for good)
any local user may connect. pmscan binds the socket itself under a umask that already yields
0660, gives it its group, and only then hands it to uvicorn (``fd=``), which calls ``listen()``:
a connection is refused until then, so no client ever meets other permissions.
"""

from __future__ import annotations

import contextlib
import grp
import os
import signal
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

__all__ = ["MODE", "UnixListener", "bind_unix_socket", "removed_at_exit"]

#: Owner and group may connect (connecting to a Unix socket needs write permission), nobody else.
MODE = 0o660


def _gid(group: str) -> int:
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ValueError(f"no such group: {group!r}") from None


class UnixListener:
    """A bound Unix socket and its file; :meth:`close` removes the file if it is still ours."""

    def __init__(self, path: Path, sock: socket.socket) -> None:
        self.path = path
        self.socket = sock
        self._inode = os.lstat(path).st_ino

    def fileno(self) -> int:
        return self.socket.fileno()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if os.lstat(self.path).st_ino == self._inode:  # not replaced by another server since
                os.unlink(self.path)
        self.socket.close()


def bind_unix_socket(path: Path, *, group: str | None = None) -> UnixListener:
    """A Unix stream socket bound at ``path``, mode 0660, of ``group`` if given (not yet listening).

    A stale socket file at ``path`` is replaced; a live one (a server answers) or any other kind
    of file is an error (``OSError``). Raises ``ValueError`` for an unknown group.
    """
    gid = _gid(group) if group is not None else -1
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise FileExistsError(f"{path} exists and is not a socket")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(path))
            except ConnectionRefusedError:
                os.unlink(path)  # nobody listens: left behind by a server that died
            else:
                raise FileExistsError(f"{path}: another server is listening there")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        old = os.umask(0o777 & ~MODE)  # bind() creates the file 0777 & ~umask: exactly MODE
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        if gid != -1:
            os.chown(path, -1, gid)
        return UnixListener(path, sock)
    except BaseException:
        sock.close()
        raise


class _Terminated(BaseException):
    """SIGTERM arrived outside uvicorn's own handler (see :func:`removed_at_exit`)."""


@contextlib.contextmanager
def removed_at_exit(listener: UnixListener | None) -> Iterator[None]:
    """Remove the socket file when the block ends, also when it ends by SIGTERM.

    After a graceful shutdown uvicorn re-raises the SIGTERM it caught, with the handler that was
    in place before it started: by default that kills the process before any ``finally`` runs
    (uvicorn's own ``uds=`` leaves its file behind that way). Here that handler closes the
    listener first, then dies by SIGTERM all the same, as uvicorn intends.
    """
    if listener is None:
        yield
        return

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    except _Terminated:
        listener.close()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
        listener.close()
