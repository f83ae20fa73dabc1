"""A real pmscan server in a subprocess, for end-to-end tests.

``ServerProcess`` starts ``pmscan-server`` from the project venv with ``PMSCAN_*``
overrides, on a free loopback port (or a Unix socket), waits until /healthz answers,
and stops it with SIGTERM. Its log is kept for assertions and failure messages.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

__all__ = ["ServerProcess", "free_port", "server_executable"]

REPO = Path(__file__).resolve().parents[2]


def server_executable() -> Path:
    """``pmscan-server`` next to the running interpreter (the project venv)."""
    return Path(sys.executable).with_name("pmscan-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """``with ServerProcess(auth="off") as server: httpx.get(server.url + "/healthz")``.

    ``env`` entries are ``PMSCAN_*`` settings without the prefix (lower or upper case).
    ``uds`` listens on that Unix socket path instead of TCP. ``command`` replaces the
    executable (e.g. a ``setpriv`` prefix list followed by it).
    """

    def __init__(
        self,
        *,
        uds: Path | None = None,
        port: int | None = None,
        prefix: list[str] | None = None,
        startup_timeout: float = 20.0,
        **env: object,
    ) -> None:
        self.uds = uds
        self.port = port if port is not None or uds is not None else free_port()
        self._prefix = prefix or []
        self._startup_timeout = startup_timeout
        self._env = {f"PMSCAN_{k.upper()}": str(v) for k, v in env.items()}
        self._log = tempfile.TemporaryFile(mode="w+b")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return "http://pmscan" if self.uds else f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs: object) -> httpx.Client:
        """An httpx client for this server (over its Unix socket when it has one)."""
        if self.uds is not None:
            kwargs.setdefault("transport", httpx.HTTPTransport(uds=str(self.uds)))
        kwargs.setdefault("timeout", 30)
        return httpx.Client(base_url=self.url, **kwargs)  # type: ignore[arg-type]

    def start(self) -> ServerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PMSCAN_")}
        env.update({"PMSCAN_LOG_LEVEL": "warning", "PMSCAN_AUDIT_LOG": ""})
        if self.uds is not None:
            env["PMSCAN_UDS"] = str(self.uds)
        else:
            env["PMSCAN_PORT"] = str(self.port)
        env.update(self._env)
        self.process = subprocess.Popen(
            [*self._prefix, str(server_executable())],
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
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pmscan-server did not become ready:\n{self.log()}")

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

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self._log.close()
