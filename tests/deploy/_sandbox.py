"""Run a command under pieces of a service sandbox that need no init system: another user with ambient
capabilities (setpriv), the kernel's memory-deny-write-execute rule (prctl PR_SET_MDWE, the rule
that systemd's MemoryDenyWriteExecute= enforces), and a seccomp allow list built from the unit's
SystemCallFilter= lines (libseccomp, as systemd uses it)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1

# Run by `python -c` before exec: switches MDWE on (inherited across fork and execve) or exits 97.
_MDWE_EXEC = f"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) != 0:
    sys.stderr.write("PR_SET_MDWE: errno %d\\n" % ctypes.get_errno())
    sys.exit(97)
os.execvp(sys.argv[1], sys.argv[1:])
"""
MDWE_UNAVAILABLE = 97


def mdwe_supported() -> bool:
    """Whether this kernel has PR_SET_MDWE (Linux 6.3+), asked in a child so that this process keeps
    its own memory rules."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        libc = ctypes.CDLL(None, use_errno=True)
        os._exit(0 if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) == 0 else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def under_mdwe(argv: Sequence[str]) -> list[str]:
    """`argv` prefixed so that it runs with write-or-execute memory enforced by the kernel."""
    return [sys.executable, "-c", _MDWE_EXEC, *argv]


def setpriv_argv(uid: int, capabilities: Iterable[str], argv: Sequence[str]) -> list[str]:
    """`argv` run as `uid` (and the same gid, no supplementary groups) holding exactly `capabilities`
    (kernel names, CAP_...) as ambient, inheritable and bounding sets, with no_new_privs set: what
    systemd does for User= with AmbientCapabilities=, CapabilityBoundingSet= and NoNewPrivileges=."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise FileNotFoundError("setpriv")
    names = sorted(c.removeprefix("CAP_").lower() for c in capabilities)
    caps = ",".join(["-all", *(f"+{n}" for n in names)])
    return [
        setpriv,
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        f"--inh-caps={caps}",
        f"--ambient-caps={caps}",
        f"--bounding-set={caps}",
        "--no-new-privs",
        *argv,
    ]


def world_executable(path: Path) -> bool:
    """Whether any user may execute `path`: every directory on the way searchable by others and the
    file executable by others (after symlinks)."""
    real = path.resolve()
    if not real.is_file() or not real.stat().st_mode & stat.S_IXOTH:
        return False
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in real.parents)


def python_for_any_user() -> Path | None:
    """A Python interpreter that an unprivileged user can run (this one, or /usr/bin/python3)."""
    for candidate in (Path(sys.executable), Path("/usr/bin/python3")):
        if candidate.exists() and world_executable(candidate):
            return candidate
    return None


def _expand_syscall_group(group: str) -> set[str]:
    """The system calls of a systemd system call group, nested groups expanded, as this machine's
    systemd-analyze defines them."""
    output = subprocess.run(
        ["systemd-analyze", "syscall-filter", group], capture_output=True, text=True, check=True
    ).stdout
    names: set[str] = set()
    for line in output.splitlines()[1:]:
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        names |= _expand_syscall_group(word) if word.startswith("@") else {word}
    return names


def system_call_filter(assignments: Iterable[str]) -> frozenset[str]:
    """The allow list that a unit's SystemCallFilter= lines make, in order: the first names what is
    allowed, each later `~` line takes groups or calls away."""
    allowed: set[str] = set()
    for assignment in assignments:
        deny = assignment.startswith("~")
        for word in assignment.removeprefix("~").split():
            names = _expand_syscall_group(word) if word.startswith("@") else {word}
            allowed = allowed - names if deny else allowed | names
    return frozenset(allowed)


# Run by `python -c` before exec: loads a seccomp filter that allows the calls named in argv[1]
# (comma-separated) and fails every other with EPERM (SystemCallErrorNumber=EPERM), then execs.
_SECCOMP_EXEC = """
import ctypes, ctypes.util, errno, os, sys
lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2")
lib.seccomp_init.restype = ctypes.c_void_p
lib.seccomp_init.argtypes = [ctypes.c_uint32]
lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
lib.seccomp_load.argtypes = [ctypes.c_void_p]
lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
SCMP_ACT_ALLOW, SCMP_ACT_ERRNO = 0x7FFF0000, 0x00050000
ctx = lib.seccomp_init(SCMP_ACT_ERRNO | errno.EPERM)
for name in sys.argv[1].split(","):
    nr = lib.seccomp_syscall_resolve_name(name.encode())
    if nr >= 0 and lib.seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0:
        sys.exit(f"seccomp_rule_add {name} failed")
if lib.seccomp_load(ctx) != 0:
    sys.exit("seccomp_load failed")
os.execvp(sys.argv[2], sys.argv[2:])
"""


def seccomp_available() -> bool:
    return ctypes.util.find_library("seccomp") is not None and shutil.which("systemd-analyze") is not None


def under_seccomp(allowed: Iterable[str], argv: Sequence[str]) -> list[str]:
    """`argv` prefixed so that it runs under a libseccomp allow list (others fail with EPERM), as
    systemd's SystemCallFilter= with SystemCallErrorNumber=EPERM installs it."""
    return [sys.executable, "-c", _SECCOMP_EXEC, ",".join(sorted(allowed)), *argv]
