"""A real pmscan server in a subprocess, for end-to-end tests.

``ServerProcess`` starts ``pmscan-server`` from the running venv (``.venv-dev``) with ``PMSCAN_*``
overrides, on a free loopback port (or a Unix socket), waits until /healthz answers,
and stops it with SIGTERM. Its log is kept for assertions and failure messages.

With authentication on and no ``token_file`` given, the token file is put in a temporary
directory (the server's first start creates it there, and :attr:`ServerProcess.admin_token`
reads the generated token): a test never touches ``/var/lib/pmscan``. With ``tls_cert`` the URL is
``https`` and ``client()`` verifies against ``tls_ca``. :func:`any_user_server_command` runs the
server as a user who can read neither the venv nor the checkout (both may be root-only).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

__all__ = ["ServerProcess", "any_user_server_command", "free_port", "server_executable"]

REPO = Path(__file__).resolve().parents[2]


def server_executable() -> Path:
    """``pmscan-server`` next to the running interpreter (``.venv-dev`` under ``make test``)."""
    return Path(sys.executable).with_name("pmscan-server")


def any_user_server_command() -> tuple[list[str], dict[str, str]]:
    """``pmscan-server`` as any user can run it, wherever the checkout lives: the system
    ``python3`` (same minor version as the venv, so the compiled extension loads) on the server
    installed by :func:`_any_user_install`. Returns the command and the environment it needs."""
    python = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"
    return [python, "-m", "app.server"], {
        "PYTHONPATH": str(_any_user_install()),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


@functools.cache
def _any_user_install() -> Path:
    """The server's wheel and its locked runtime dependencies, installed in a directory every
    user may read; built once per test session and removed at its end.

    The checkout may sit where only root may enter (under ``/root``, in a ``mktemp -d``
    directory), and so does the venv inside it: another user cannot import either. This is
    what a deployment does too: it installs the wheel, not the checkout."""
    root = Path(tempfile.mkdtemp(prefix="pmscan-any-user-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    root.chmod(0o755)
    site, wheels = root / "site-packages", root / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(REPO)],
        check=True,
        cwd=root,
    )
    lock = REPO / "requirements" / "runtime.txt"
    subprocess.run(
        [*pip, "install", "--quiet", "--require-hashes", "--target", str(site), "-r", str(lock)], check=True
    )
    subprocess.run(
        [*pip, "install", "--quiet", "--no-deps", "--target", str(site), *map(str, wheels.glob("*.whl"))],
        check=True,
    )
    for path in (root, *root.rglob("*")):  # pip keeps the umask; make sure of a+rX whatever it is
        path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))
    return site


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """``with ServerProcess(auth="off") as server: httpx.get(server.url + "/healthz")``.

    ``env`` entries are ``PMSCAN_*`` settings without the prefix (lower or upper case).
    ``uds`` listens on that Unix socket path instead of TCP. ``prefix`` goes before the
    command (e.g. a ``setpriv`` argument list); ``command`` replaces ``pmscan-server`` and
    ``process_env`` adds other environment variables (see :func:`any_user_server_command`).
    ``token`` is sent by every ``client()``; ``tls_ca`` is the CA that ``client()`` trusts.
    """

    def __init__(
        self,
        *,
        uds: Path | None = None,
        port: int | None = None,
        prefix: list[str] | None = None,
        command: list[str] | None = None,
        process_env: dict[str, str] | None = None,
        token: str | None = None,
        tls_ca: Path | None = None,
        startup_timeout: float = 20.0,
        **env: object,
    ) -> None:
        self.uds = uds
        self.port = port if port is not None or uds is not None else free_port()
        self._prefix = prefix or []
        self._command = command or [str(server_executable())]
        self._process_env = process_env or {}
        self.token = token
        self.tls_ca = tls_ca
        self._startup_timeout = startup_timeout
        self._env = {f"PMSCAN_{k.upper()}": str(v) for k, v in env.items()}
        self._state: tempfile.TemporaryDirectory[str] | None = None
        if self._env.get("PMSCAN_AUTH", "on") == "on" and "PMSCAN_TOKEN_FILE" not in self._env:
            self._state = tempfile.TemporaryDirectory(prefix="pmscan-tokens-")
            self._env["PMSCAN_TOKEN_FILE"] = str(Path(self._state.name) / "tokens")
        self._log = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 - closed by __exit__
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "https" if "PMSCAN_TLS_CERT" in self._env else "http"
        return f"{scheme}://pmscan" if self.uds else f"{scheme}://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def token_file(self) -> Path | None:
        file = self._env.get("PMSCAN_TOKEN_FILE")
        return Path(file) if file else None

    @property
    def admin_token(self) -> str:
        """The admin token the server generated on its first start (``<token_file>.admin``)."""
        assert self.token_file is not None
        return self.token_file.with_name(self.token_file.name + ".admin").read_text().strip()

    def client(self, **kwargs: object) -> httpx.Client:
        """An httpx client for this server (over its Unix socket when it has one)."""
        if self.uds is not None:
            kwargs.setdefault("transport", httpx.HTTPTransport(uds=str(self.uds)))
        if self.tls_ca is not None:
            kwargs.setdefault("verify", ssl.create_default_context(cafile=str(self.tls_ca)))
        if self.token is not None:
            kwargs.setdefault("headers", {"Authorization": f"Bearer {self.token}"})
        kwargs.setdefault("timeout", 30)
        return httpx.Client(base_url=self.url, **kwargs)  # type: ignore[arg-type]

    def start(self) -> ServerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PMSCAN_")}
        env.update({"PMSCAN_LOG_LEVEL": "warning", "PMSCAN_AUDIT_LOG": ""})
        if self.uds is not None:
            env["PMSCAN_UDS"] = str(self.uds)
        else:
            env["PMSCAN_PORT"] = str(self.port)
        env.update(self._process_env)
        env.update(self._env)
        self.process = subprocess.Popen(
            [*self._prefix, *self._command],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self._startup_timeout
        with self.client(timeout=1) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"pmscan-server exited with {self.process.returncode}:\n{self.log()}")
                try:
                    if self._listening() and client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pmscan-server did not become ready:\n{self.log()}")

    def _listening(self) -> bool:
        """Whether the Unix socket accepts connections (httpcore leaks the socket of a failed
        Unix-socket connect, which pytest reports as a ResourceWarning); TCP: always try."""
        if self.uds is None:
            return True
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(self.uds))
            except OSError:
                return False
        return True

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait (SIGKILL after ``timeout``); returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def close(self) -> None:
        """Stop the server and release the log and token directory."""
        self.stop()
        self._log.close()
        if self._state is not None:
            self._state.cleanup()

    def __enter__(self) -> ServerProcess:
        try:
            return self.start()
        except BaseException:
            # No __exit__ follows a failed __enter__: without this the log file stays open until
            # the garbage collector finds it, in whatever test runs then (an unraisable warning).
            self.close()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def issue_token(token_file: Path, name: str, scopes: str) -> str:
    """A new token ``name`` with ``scopes`` (``read`` or ``read,write``) in ``token_file``, made
    by ``pmscan-server token add`` (its entry point, in this process); returns the token."""
    from app.server import main as server_main  # noqa: PLC0415 - the server's CLI, only here

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = server_main(["token", "--token-file", str(token_file), "add", name, "--scopes", scopes])
    assert status == 0, f"pmscan-server token add {name} failed ({status})"
    return out.getvalue().strip()
