"""Temporary control groups for tests (root): created under a mounted hierarchy, removed after.

``TemporaryCgroup("")`` is in the unified (v2) hierarchy, ``TemporaryCgroup("pids")`` in the v1
hierarchy of that controller. Processes are moved in with :meth:`TemporaryCgroup.add`; on exit
the ones still alive go back to the hierarchy's root and the directories are removed, deepest first.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path
from types import TracebackType

from app.pagemap.cgroups import CgroupSpec, cgroup_directory

__all__ = ["CgroupUnavailableError", "TemporaryCgroup"]


class CgroupUnavailableError(Exception):
    """No writable mount of that hierarchy here (not root, or not mounted)."""


class TemporaryCgroup:
    def __init__(self, controller: str = "") -> None:
        self.controller = controller
        root = cgroup_directory(CgroupSpec(controller, "/"))
        if root is None or not os.access(root / "cgroup.procs", os.W_OK):
            raise CgroupUnavailableError(f"no writable {controller or 'cgroup2'} hierarchy mounted here")
        self.root = root
        self.name = f"pmscan-test-{uuid.uuid4().hex[:8]}"
        self._created: list[Path] = []

    def spec(self, child: str = "") -> str:
        """The cgroup as the API names it (``/NAME[/child]``, or ``controller:/NAME[/child]``)."""
        path = f"/{self.name}" + (f"/{child}" if child else "")
        return f"{self.controller}:{path}" if self.controller else path

    def directory(self, child: str = "") -> Path:
        return self.root / self.name / child if child else self.root / self.name

    def make(self, child: str = "") -> Path:
        directory = self.directory(child)
        directory.mkdir()
        self._created.append(directory)
        return directory

    def add(self, pid: int, child: str = "") -> None:
        (self.directory(child) / "cgroup.procs").write_text(f"{pid}\n")

    def __enter__(self) -> TemporaryCgroup:
        self.make()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for directory in sorted(self._created, key=lambda d: len(d.parts), reverse=True):
            for pid in (directory / "cgroup.procs").read_text().split():
                # A process that exited meanwhile (or a zombie) leaves with its reaping.
                with contextlib.suppress(OSError):
                    (self.root / "cgroup.procs").write_text(f"{pid}\n")
            deadline = time.monotonic() + 5
            while True:
                try:
                    directory.rmdir()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)  # a process just reaped is released asynchronously
