"""Bearer tokens: their form, and the file that holds their hashes.

A token is ``pmscan_`` followed by 32 random bytes in URL-safe base64 (no padding): recognisable
in a leaked log or a secret scanner, unguessable. The token file holds one token per line::

    # NAME   SCOPES       HASH
    admin    read,write   sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    grafana  read         sha256:…

Hashes only, never a token: whoever reads the file learns no token, so the file may be a
Kubernetes Secret. Whoever can *write* it can grant themselves access, so a file that others may
write is refused. The server re-reads the file whenever it changes (:class:`TokenStore`), which
is how a rotated Secret takes effect without a restart.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PREFIX",
    "SCOPES",
    "TokenEntry",
    "TokenFileError",
    "TokenStore",
    "add_token",
    "admin_token_path",
    "bootstrap",
    "digest",
    "generate_token",
    "parse_scopes",
    "parse_token_file",
    "read_token_file",
    "remove_token",
]

log = logging.getLogger("pmscan")

PREFIX = "pmscan_"
#: ``read``: scans, summaries, mappings, process lists. ``write``: what changes a target's state
#: (``WP_MATCHING`` scans, clearing soft-dirty bits).
SCOPES = frozenset({"read", "write"})
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_HASH = re.compile(r"sha256:([0-9a-f]{64})")


class TokenFileError(ValueError):
    """A token file, a token name or a scope list that cannot be used."""


@dataclass(frozen=True)
class TokenEntry:
    """One line of the token file: who (``name``), what (``scopes``), and the token's sha256."""

    name: str
    scopes: frozenset[str]
    sha256: bytes

    def line(self) -> str:
        return f"{self.name} {','.join(sorted(self.scopes))} sha256:{self.sha256.hex()}\n"


def generate_token() -> str:
    """A new token: the prefix and 32 random bytes, URL-safe base64 without padding."""
    return PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def digest(token: str) -> bytes:
    """The sha256 of a token, as the token file stores it."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def parse_scopes(text: str) -> frozenset[str]:
    """``"read,write"`` as a set; raises ``TokenFileError`` for an unknown or missing scope."""
    scopes = frozenset(s.strip() for s in text.split(",") if s.strip())
    if not scopes:
        raise TokenFileError("no scope given (choose from read, write)")
    unknown = scopes - SCOPES
    if unknown:
        raise TokenFileError(f"unknown scope {', '.join(sorted(unknown))} (choose from read, write)")
    return scopes


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise TokenFileError(
            f"bad token name {name!r}: 1-64 characters of letters, digits and _.@-, not starting with a sign"
        )
    return name


def parse_token_file(text: str) -> tuple[list[TokenEntry], list[str]]:
    """The entries of a token file, and one message per line that was skipped.

    A bad line grants nothing (it is skipped, never half-read): a typo in a scope revokes that
    token rather than widening it. A second line with a name already seen is skipped too.
    """
    entries: list[TokenEntry] = []
    problems: list[str] = []
    names: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        try:
            if len(fields) != 3:
                raise TokenFileError("expected NAME SCOPES sha256:HEX")
            name, scopes, hashed = fields
            _check_name(name)
            match = _HASH.fullmatch(hashed)
            if match is None:
                raise TokenFileError("the hash must be sha256: and 64 lower-case hex digits")
            if name in names:
                raise TokenFileError(f"the name {name!r} is already used above")
            entries.append(TokenEntry(name, parse_scopes(scopes), bytes.fromhex(match.group(1))))
            names.add(name)
        except TokenFileError as err:
            problems.append(f"line {number}: {err}")
    return entries, problems


def _check_file(st: os.stat_result, path: Path) -> None:
    """Refuse a token file that someone other than root or this user could rewrite."""
    if st.st_uid not in (0, os.geteuid()):
        raise TokenFileError(f"{path} belongs to uid {st.st_uid}, neither root nor this user")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not _read_only_filesystem(path):
        raise TokenFileError(f"{path} is writable by others (mode {stat.S_IMODE(st.st_mode):04o})")


def _read_only_filesystem(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def read_token_file(path: Path) -> tuple[list[TokenEntry], list[str]]:
    """Parse the token file at ``path`` (see :func:`parse_token_file`).

    Raises ``FileNotFoundError`` when it is missing, ``TokenFileError`` when others may write it.
    """
    with open(path, encoding="utf-8", errors="replace") as file:
        _check_file(os.fstat(file.fileno()), path)
        return parse_token_file(file.read())


class TokenStore:
    """The token file as the server sees it, re-read whenever it changes.

    "Changes" is a different inode, size, mtime or ctime: a rewrite in place, an append, and an
    atomic replacement (``token remove``, a Kubernetes Secret's symlink swap) all count. A file
    that is missing, unreadable or refused grants nothing until it is fixed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._signature: tuple[int, ...] | None = None
        self._entries: list[TokenEntry] = []

    def entries(self) -> list[TokenEntry]:
        """The current entries (after a re-read if the file changed)."""
        try:
            st = os.stat(self.path)
            signature: tuple[int, ...] = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        except OSError as err:
            signature = (-1, err.errno or 0)
        if signature != self._signature:
            self._signature = signature
            self._entries = self._load()
        return self._entries

    def _load(self) -> list[TokenEntry]:
        try:
            entries, problems = read_token_file(self.path)
        except (OSError, TokenFileError) as err:
            log.error("no token is accepted: cannot use the token file %s: %s", self.path, err)
            return []
        for problem in problems:
            log.error("token file %s, %s: that line is ignored", self.path, problem)
        log.info("token file %s: %d token(s) accepted", self.path, len(entries))
        return entries

    def verify(self, token: str) -> TokenEntry | None:
        """The entry whose hash matches ``token``, or ``None``.

        Every entry is compared, in constant time, whatever matched before: the time taken says
        nothing about which hash, or how much of one, the token came close to.
        """
        presented = digest(token)
        found: TokenEntry | None = None
        for entry in self.entries():
            if hmac.compare_digest(presented, entry.sha256) and found is None:
                found = entry
        return found


# ---- changing the file (the token CLI and the first start) -------------------------------------


def admin_token_path(token_file: Path) -> Path:
    """Where the first start leaves the generated admin token in clear: ``<token_file>.admin``."""
    return token_file.with_name(token_file.name + ".admin")


def _private_dir(directory: Path) -> None:
    """Create ``directory`` mode 0700 if missing (an existing one is left as it is)."""
    if not directory.is_dir():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)


def _create_private(path: Path, text: str) -> None:
    """Write a new file mode 0600; never through a symlink, never over an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[int]:
    """The token file open for appending (created 0600 if missing), under an exclusive lock."""
    _private_dir(path.parent)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # replaced while we waited for the lock (remove_token): lock the new file
    try:
        yield fd
    finally:
        os.close(fd)


def _read_fd(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def add_token(path: Path, name: str, scopes: Iterable[str]) -> str:
    """Append a new token named ``name`` with ``scopes`` to the file; return the token (shown once).

    Raises ``TokenFileError`` for a bad name or scope, or a name already in the file.
    """
    chosen = parse_scopes(",".join(scopes))
    _check_name(name)
    with _locked(path) as fd:
        text = _read_fd(fd)
        entries, _ = parse_token_file(text)
        if any(e.name == name for e in entries):
            raise TokenFileError(f"a token named {name!r} exists already in {path}")
        token = generate_token()
        line = TokenEntry(name, chosen, digest(token)).line()
        os.write(fd, (("\n" if text and not text.endswith("\n") else "") + line).encode())
        os.fsync(fd)
    return token


def remove_token(path: Path, name: str) -> bool:
    """Remove the token named ``name`` (revoking it); ``False`` if there is none.

    The file is replaced atomically, so a server reading it never sees half of it.
    """
    with _locked(path) as fd:
        lines = _read_fd(fd).splitlines(keepends=True)
        kept = [line for line in lines if line.split("#", 1)[0].split()[:1] != [name]]
        if len(kept) == len(lines):
            return False
        fresh = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        _create_private(fresh, "".join(kept))
        os.replace(fresh, path)
    return True


def bootstrap(path: Path) -> Path | None:
    """On a first start (no token file at ``path``): create one holding a new admin token.

    The admin token gets both scopes. The token file (mode 0600, in a directory created 0700)
    holds only its hash, so the token itself goes to :func:`admin_token_path` (mode 0600) for a
    local administrator to read and then delete. Returns that path, or ``None`` when the token
    file existed already.
    """
    if os.path.lexists(path):
        return None
    _private_dir(path.parent)
    token = generate_token()
    admin = admin_token_path(path)
    with contextlib.suppress(FileNotFoundError):
        admin.unlink()  # left over from a start that stopped half-way
    _create_private(admin, f"{token}\n")
    try:
        _create_private(
            path,
            "# pmscan bearer tokens: NAME SCOPES sha256:HEX (manage with `pmscan-server token`)\n"
            + TokenEntry("admin", SCOPES, digest(token)).line(),
        )
    except FileExistsError:  # another server started at the same moment and won
        admin.unlink()
        return None
    return admin
