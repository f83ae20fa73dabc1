"""A real Prometheus server scraping a real pmscan server, for end-to-end tests.

``PrometheusServer(targets=["127.0.0.1:PORT"], token_file=PATH)`` runs ``/usr/bin/prometheus``
(Debian's package, from ``make tools``) on a free loopback port, with its own temporary data
directory and a scrape configuration of the pmscan servers given: the bearer token read from a
file (``authorization.credentials_file``), as a deployment mounts it. It is a context manager:
on exit the server is stopped (SIGTERM, then SIGKILL) and the directory removed, so no test
leaves a Prometheus behind. ``rule_files`` are loaded (and evaluated every ``interval``).

:meth:`wait_for_scrape` waits until every target has been scraped successfully (``up == 1``)
``scrapes`` times; :meth:`query` and :meth:`query_range` ask the HTTP API
(``/api/v1/query``, ``/api/v1/query_range``) and return its ``data.result``.
:func:`prometheus_binary` and :func:`promtool_binary` say whether the tools are installed (tests
skip with that reason when they are not).
"""

from __future__ import annotations

import atexit
import json
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tests.support.server import free_port

__all__ = ["PrometheusServer", "prometheus_binary", "promtool_binary"]


def prometheus_binary() -> str | None:
    return shutil.which("prometheus", path="/usr/bin:/usr/local/bin:/bin")


def promtool_binary() -> str | None:
    return shutil.which("promtool", path="/usr/bin:/usr/local/bin:/bin")


class PrometheusServer:
    """One Prometheus process scraping ``targets`` (``host:port`` of pmscan servers) every
    ``interval`` at ``metrics_path``, as job ``job``. ``scheme`` is ``http`` or ``https``
    (``ca_file`` then verifies the server). ``extra_scrape_configs`` are more jobs, as
    Prometheus writes them (:meth:`wait_for_scrape` waits for every target of every job); with
    no ``targets``, they are the only jobs."""

    def __init__(
        self,
        targets: list[str],
        *,
        token_file: Path | None = None,
        job: str = "pmscan",
        interval: str = "1s",
        metrics_path: str = "/metrics",
        scheme: str = "http",
        ca_file: Path | None = None,
        rule_files: list[Path] | None = None,
        extra_scrape_configs: list[dict[str, Any]] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        binary = prometheus_binary()
        if binary is None:
            raise FileNotFoundError("prometheus is not installed (make tools installs it)")
        self.binary = binary
        #: Every target of every job (pmscan's first).
        self.targets = list(targets)
        for config in extra_scrape_configs or []:
            for static in config["static_configs"]:
                self.targets.extend(static["targets"])
        self.job = job
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._startup_timeout = startup_timeout
        self._directory = tempfile.TemporaryDirectory(prefix="pmscan-prometheus-")
        root = Path(self._directory.name)
        scrape: dict[str, Any] = {
            "job_name": job,
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "metrics_path": metrics_path,
            "scheme": scheme,
            "static_configs": [{"targets": targets}],
        }
        if token_file is not None:
            scrape["authorization"] = {"type": "Bearer", "credentials_file": str(token_file)}
        if ca_file is not None:
            scrape["tls_config"] = {"ca_file": str(ca_file)}
        config: dict[str, Any] = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "scrape_configs": [scrape, *(extra_scrape_configs or [])] if targets else extra_scrape_configs,
        }
        if rule_files:
            config["rule_files"] = [str(path) for path in rule_files]
        self.config_file = root / "prometheus.yml"
        self.config_file.write_text(json.dumps(config, indent=2))  # JSON is YAML
        self._data = root / "data"
        self._log = root / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None

    # -- life --------------------------------------------------------------------------------------

    def start(self) -> PrometheusServer:
        with self._log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config_file}",
                    f"--storage.tsdb.path={self._data}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        # Even a test run that dies without unwinding (a second Ctrl-C) leaves no Prometheus.
        atexit.register(self.stop)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self._startup_timeout
        with httpx.Client(base_url=self.url, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"prometheus exited with {self.process.returncode}:\n{self.log()}")
                try:
                    if client.get("/-/ready").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"prometheus did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def stop(self, timeout: float = 15.0) -> None:
        atexit.unregister(self.stop)
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self._directory.cleanup()

    # -- the HTTP API ------------------------------------------------------------------------------

    def _api(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        response = httpx.get(self.url + path, params=params, timeout=10)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {response.status_code} {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def query(self, expr: str, *, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query: ``[{"metric": {labels}, "value": [time, "text"]}, ...]``."""
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        return self._api("/api/v1/query", params)

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """A range query: ``[{"metric": {labels}, "values": [[time, "text"], ...]}, ...]``."""
        return self._api("/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step})

    def value(self, expr: str) -> float | None:
        """The value of an instant query that selects one series (None when it selects none)."""
        result = self.query(expr)
        if not result:
            return None
        assert len(result) == 1, f"{expr} selects {len(result)} series: {result}"
        return float(result[0]["value"][1])

    def targets_health(self) -> list[dict[str, Any]]:
        response = httpx.get(self.url + "/api/v1/targets", timeout=10)
        active: list[dict[str, Any]] = response.json()["data"]["activeTargets"]
        return active

    def wait_for_scrape(self, *, scrapes: int = 1, timeout: float = 60.0) -> None:
        """Wait until each target was scraped successfully ``scrapes`` times since now (its
        ``lastScrape`` time moved that often with ``health`` up); fails with the targets' last
        errors after ``timeout``."""
        deadline = time.monotonic() + timeout
        seen: dict[str, set[str]] = {}
        active: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            active = self.targets_health()
            for target in active:
                if target["health"] == "up":
                    seen.setdefault(target["scrapeUrl"], set()).add(target["lastScrape"])
            if len(active) == len(self.targets) and all(
                len(seen.get(t["scrapeUrl"], ())) >= scrapes for t in active
            ):
                return
            time.sleep(0.2)
        raise AssertionError(f"no successful scrape within {timeout} s: {active}\n{self.log()}")
