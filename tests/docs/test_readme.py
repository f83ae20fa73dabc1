"""The README's examples, run as printed: every output it shows is one a test produced.

Each shell example with an output (tests/docs/_examples.py) runs in bash against a real server
started here with authentication on, with ``TOKEN`` its admin token and ``PID`` a real process; its
output must have the shape the README shows (same keys, same category lists, same number of lines
where the README fixes it). The one liberty taken with a command: the README's address,
``127.0.0.1:6716``, becomes the test server's, so that a developer's own server on that port is
neither needed nor touched.

The write-tracking program of the README is compiled with ``-Wall -Wextra -Werror`` and run; the
examples under its heading scan it, and :class:`TestWriteTrackingProgram` checks with the kernel
that it tracks what it writes.

To check another kind of example, add its command's start to ``CHECKED`` (one line), and, if it
needs a process of its own, its command's start or its section to ``TARGETS``.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from tests.docs._examples import Example, blocks, differences, examples
from tests.support.server import ServerProcess

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
EXAMPLES = examples(README.read_text())
README_ADDRESS = "127.0.0.1:6716"
PAGE = os.sysconf("SC_PAGE_SIZE")

#: The examples that run here, by the start of their command (``$`` prompt aside). pmscan's own
#: (``pmscan map``, ``pmscan watch``) join when the CLI's output formats settle: add a line each.
CHECKED = ("curl ",)

#: The process an example's ``$PID`` (and its other variables) come from, by the start of its
#: command or else the heading it is under: the name of a fixture below that yields those
#: variables (``write_tracking_program`` gives ``PID``, ``START`` and ``END``). Every other example
#: scans a shell, as the README's ``PID=$$`` does.
TARGETS = {"Write tracking": "write_tracking_program"}

#: The README's heading of the write-tracking program.
WRITE_TRACKING = "Write tracking"


def _checked(example: Example) -> bool:
    return example.command.removeprefix("$ ").startswith(CHECKED)


def _target(example: Example) -> str:
    command = example.command.removeprefix("$ ")
    for key, fixture in TARGETS.items():
        if command.startswith(key):
            return fixture
    return TARGETS.get(example.section, "shell")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess() as server:
        server.token = server.admin_token
        yield server


@pytest.fixture
def shell() -> Iterator[dict[str, str]]:
    """A bash process waiting in its ``read`` builtin: "this shell" of the README's ``PID=$$``."""
    process = subprocess.Popen(["bash", "-c", "read -r _"], stdin=subprocess.PIPE)
    try:
        yield {"PID": str(process.pid)}
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(10)


class WriteTracker:
    """The README's write-tracking program, running: its pid, heap and the pages it wrote."""

    def __init__(self, binary: Path) -> None:
        self.process = subprocess.Popen(
            [binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        first = self._line()
        found = re.fullmatch(r"PID=(\d+) START=(0x[0-9a-f]+) END=(0x[0-9a-f]+)", first)
        assert found, f"the program printed {first!r}"
        self.variables = dict(zip(("PID", "START", "END"), found.groups(), strict=True))
        self.pid, self.start, self.end = int(found[1]), int(found[2], 16), int(found[3], 16)

    def _line(self) -> str:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 10)
        assert ready, "the program printed nothing within 10 s"
        line = self.process.stdout.readline().strip()
        assert line, f"the program ended: {self.process.stderr.read() if self.process.stderr else ''}"
        return line

    def write_next_page(self) -> int:
        """Press Enter: the program writes its next page; returns that page's address."""
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        found = re.fullmatch(r"wrote page \d+ at (0x[0-9a-f]+)", self._line())
        assert found
        return int(found[1], 16)

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()  # end of input ends it
        assert self.process.wait(10) == 0
        self.process.stdout.close()
        if self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture(scope="module")
def write_tracking_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's C program, compiled with every warning an error."""
    (program,) = [b for b in blocks(README.read_text()) if b.info == "c" and b.section == WRITE_TRACKING]
    directory = tmp_path_factory.mktemp("wtrack")
    source = directory / "wtrack.c"
    source.write_text(program.text)
    built = subprocess.run(
        ["cc", "-Wall", "-Wextra", "-Werror", "-o", str(directory / "wtrack"), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    return directory / "wtrack"


@pytest.fixture
def write_tracker(write_tracking_binary: Path) -> Iterator[WriteTracker]:
    tracker = WriteTracker(write_tracking_binary)
    try:
        yield tracker
    finally:
        tracker.close()


@pytest.fixture
def write_tracking_program(write_tracker: WriteTracker) -> dict[str, str]:
    return write_tracker.variables


def _run(example: Example, server: ServerProcess, variables: dict[str, str]) -> str:
    assert server.token is not None
    command = example.command.removeprefix("$ ").replace(README_ADDRESS, f"127.0.0.1:{server.port}")
    env = os.environ | variables
    env |= {
        "TOKEN": server.token,
        "PMSCAN_TOKEN": server.token,
        "PMSCAN_URL": server.url,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    run = subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, f"{command}\nexited with {run.returncode}: {run.stderr}"
    return run.stdout


class TestExamples:
    @pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
    def test_output_has_the_printed_shape(
        self, example: Example, server: ServerProcess, request: pytest.FixtureRequest
    ) -> None:
        if not _checked(example):
            pytest.skip(f"{example.program} examples are not run yet (add the command to CHECKED)")
        variables = request.getfixturevalue(_target(example))
        output = _run(example, server, variables)
        problems = differences(example.output, output)
        assert not problems, f"README.md line {example.line}:\n" + "\n".join(problems)

    def test_the_readme_has_examples_to_run(self) -> None:
        """A change of the README's markup that hid its examples from this test would pass it."""
        assert sum(map(_checked, EXAMPLES)) >= 7
        assert any(e.section == WRITE_TRACKING for e in EXAMPLES if _checked(e))


class TestWriteTrackingProgram:
    """The README's program registers its heap for asynchronous write-protection: the kernel then
    reports exactly the pages it wrote as WRITTEN, and WP_MATCHING resets them."""

    BODY: ClassVar[dict[str, object]] = {
        "flags": ["WP_MATCHING"],
        "category_mask": ["WRITTEN"],
        "return_mask": ["WRITTEN"],
    }

    def _written(self, server: ServerProcess, tracker: WriteTracker, **body: object) -> list[tuple[int, int]]:
        request = {"pid": tracker.pid, "start": tracker.start, "end": tracker.end, **body}
        with server.client() as http:
            answer = http.post("/scan", json=request, headers={"Accept": "application/json"})
        assert answer.status_code == httpx.codes.OK, answer.text
        return [(r["start"], r["end"]) for r in answer.json()["regions"]]

    def test_the_heap_is_64_pages(self, write_tracker: WriteTracker) -> None:
        assert write_tracker.end - write_tracker.start == 64 * PAGE

    def test_only_the_written_pages_are_written(
        self, server: ServerProcess, write_tracker: WriteTracker
    ) -> None:
        start = write_tracker.start
        assert self._written(server, write_tracker, category_mask=["WRITTEN"]) == [(start, start + 4 * PAGE)]

    def test_wp_matching_reports_each_write_once(
        self, server: ServerProcess, write_tracker: WriteTracker
    ) -> None:
        start = write_tracker.start
        assert self._written(server, write_tracker, vec_len=64, **self.BODY) == [(start, start + 4 * PAGE)]
        assert self._written(server, write_tracker, vec_len=64, **self.BODY) == []
        page = write_tracker.write_next_page()
        assert page == start + 4 * PAGE
        assert self._written(server, write_tracker, vec_len=64, **self.BODY) == [(page, page + PAGE)]
        assert self._written(server, write_tracker, vec_len=64, **self.BODY) == []

    def test_the_range_is_registered(self, server: ServerProcess, write_tracker: WriteTracker) -> None:
        """CHECK_WPASYNC passes over the heap: all of it is registered for async write-protection."""
        flags = ["WP_MATCHING", "CHECK_WPASYNC"]
        assert self._written(server, write_tracker, vec_len=64, **(self.BODY | {"flags": flags})) != []
