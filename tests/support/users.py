"""Run commands as other users, with chosen capabilities, via ``setpriv`` (root only).

``as_user(uid, caps)`` is the argument prefix; the command follows it. The user's gid is the uid, it
has no supplementary groups, and ``caps`` (kernel names, ``CAP_...``) are its inheritable, ambient
and bounding sets, with ``no_new_privs``: what systemd's ``User=``, ``AmbientCapabilities=``,
``CapabilityBoundingSet=`` and ``NoNewPrivileges=`` give a service. Without ``caps`` the user holds
no capability at all.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["NOBODY", "OTHER", "as_user", "running_as_root", "shared_directory", "sleeper"]

#: ``nobody``: the unprivileged user of the tests.
NOBODY = 65534
#: A uid with no account: "yet another user", owner of processes nobody else owns.
OTHER = 23456


def as_user(uid: int, caps: Iterable[str] = ()) -> list[str]:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise FileNotFoundError("setpriv (util-linux) is needed to run a command as another user")
    names = sorted(c.removeprefix("CAP_").lower() for c in caps)
    sets = ",".join(["-all", *(f"+{n}" for n in names)])
    return [
        setpriv,
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        f"--inh-caps={sets}",
        f"--ambient-caps={sets}",
        f"--bounding-set={sets}",
        "--no-new-privs",
    ]


@contextmanager
def sleeper(uid: int | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A ``sleep`` process (of ``uid`` if given) to be scanned; killed and reaped after."""
    prefix = as_user(uid) if uid is not None else []
    process = subprocess.Popen([*prefix, "sleep", "1000"])
    try:
        _wait_for_exec(process.pid, "sleep")
        yield process
    finally:
        process.kill()
        process.wait()


def _wait_for_exec(pid: int, comm: str, timeout: float = 10.0) -> None:
    """Until ``pid`` runs ``comm``: before its exec it is still ``setpriv``, another process."""
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}/comm").read_text().strip() != comm:
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} did not exec {comm}")
        time.sleep(0.005)


@contextmanager
def shared_directory() -> Iterator[Path]:
    """A fresh directory every user may enter and read (pytest's ``tmp_path`` is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="pmscan-shared-"))
    try:
        path.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def running_as_root() -> bool:
    return os.geteuid() == 0
