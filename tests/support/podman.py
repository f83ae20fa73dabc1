"""podman, as the image tests drive it: whether it can run a container here, and containers that
are always removed.

podman reads ``deploy/container/podman-ci.conf`` (``CONTAINERS_CONF``) unless the environment names
another file, as ``make image`` does. :func:`cannot_run` says why podman cannot run a container on
this machine (not installed, or a container of the host's own root directory fails), or ``None``;
``python -m tests.support.podman`` prints that reason and exits 1, for ``make test-image``, which
skips the image tests only then.

:class:`Container` runs one container detached (``podman run --detach``) and, as a context manager,
removes it on exit whatever happened; :meth:`Container.stop` is ``podman stop``: SIGTERM, then
SIGKILL after the given time, and says how long the container took and its exit status.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["CONF", "Container", "cannot_run", "image_exists", "podman"]

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "deploy" / "container" / "podman-ci.conf"


def environment() -> dict[str, str]:
    """The environment podman runs in: this one, with CONTAINERS_CONF set if it was not."""
    return {"CONTAINERS_CONF": str(CONF)} | dict(os.environ)


def podman(*args: str, check: bool = True, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """``podman ARGS``, its output captured as text; raises ``AssertionError`` with podman's
    message when it fails and ``check`` is set."""
    result = subprocess.run(
        ["podman", *args], env=environment(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: exit {result.returncode}\n{result.stderr}")
    return result


def cannot_run() -> str | None:
    """Why podman cannot run a container here, or ``None`` when it can. The container tried runs
    ``true`` on an overlay of the host's root directory: it needs no image and no registry, but the
    same runtime, namespaces, cgroups and limits as any other."""
    if shutil.which("podman") is None:
        return "podman is not installed (make image-tools installs it, as root with apt-get)"
    try:
        result = podman(
            "run", "--rm", "--network", "none", "--rootfs", "/:O", "true", check=False, timeout=60
        )
    except subprocess.TimeoutExpired:
        return "a container of the host's root did not run `true` within 60 s"
    if result.returncode != 0:
        return result.stderr.strip() or f"podman run exited with {result.returncode}"
    return None


def image_exists(image: str) -> bool:
    return podman("image", "exists", image, check=False).returncode == 0


class Container:
    """One container of ``image`` started with ``podman run --detach OPTIONS IMAGE ARGS``, named
    ``name``; removed (``podman rm --force``) when the context ends."""

    def __init__(
        self, image: str, options: Sequence[str] = (), args: Sequence[str] = (), *, name: str
    ) -> None:
        self.image = image
        self.options = list(options)
        self.args = list(args)
        self.name = name
        self.id = ""

    def start(self) -> Container:
        result = podman("run", "--detach", "--name", self.name, *self.options, self.image, *self.args)
        self.id = result.stdout.strip()
        return self

    def inspect(self) -> dict[str, Any]:
        (found,) = json.loads(podman("container", "inspect", self.name).stdout)
        return dict(found)

    @property
    def pid(self) -> int:
        """The pid, in the host's namespace, of the container's first process."""
        pid = int(self.inspect()["State"]["Pid"])
        assert pid > 0, f"{self.name} is not running:\n{self.logs()}"
        return pid

    def running(self) -> bool:
        return bool(self.inspect()["State"]["Running"])

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def exec(self, *argv: str, check: bool = True, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *argv, check=check, timeout=timeout)

    def stop(self, timeout: int) -> tuple[int, float]:
        """``podman stop --time TIMEOUT``: SIGTERM (the image's stop signal), SIGKILL after
        ``timeout`` seconds. Returns the exit status and the seconds the stop took."""
        started = time.monotonic()
        podman("stop", "--time", str(timeout), self.name, timeout=timeout + 60)
        elapsed = time.monotonic() - started
        return int(self.inspect()["State"]["ExitCode"]), elapsed

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name, check=False)

    def __enter__(self) -> Container:
        try:
            return self.start()
        except BaseException:
            self.remove()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()


if __name__ == "__main__":
    reason = cannot_run()
    if reason is not None:
        print(reason, file=sys.stderr)
    sys.exit(0 if reason is None else 1)
