"""``pmscan top`` against a real server: its rows are the node's /summary answers (processes)
or its exported series (groups), sorted; plain output off a terminal; refreshes; bad options."""

from __future__ import annotations

import asyncio
import io
import json
import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pmscan_client import AsyncClient, Category, Client
from pmscan_client.cli.main import main

from tests.support.metrics import metric
from tests.support.server import ServerProcess
from tests.support.target import Target

PMSCAN = Path(sys.executable).with_name("pmscan")
ANSI = re.compile(r"\x1b\[")
#: Columns of the plain tables: two spaces or more apart (a header may hold one: "MAPPED KiB").
COLUMNS = re.compile(r"\s{2,}")


def top(server: ServerProcess, *argv: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(["--url", server.url, "top", *(str(a) for a in argv)], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def written(target: Target) -> Target:
    """The target with 8 MiB written and 1 MiB of zero pages: it tops a small node by present."""
    area = target.anon("written", 2048)
    target.write(area, 0, 2048)
    target.read(target.anon("zero", 256), 0, 256)
    return target


@pytest.fixture
def deny_server(written: Target) -> Iterator[ServerProcess]:
    """A server that may not scan the target (its deny list)."""
    with ServerProcess(auth="off", deny_pids=f"[{written.pid}]") as running:
        yield running


@pytest.fixture
def group_server(target_binary: Path) -> Iterator[ServerProcess]:
    groups = {"targets": {"exe": re.escape(str(target_binary))}, "empty": {"comm": "no-such-comm-x"}}
    with ServerProcess(auth="off", export_groups=json.dumps(groups), export_max_age_seconds=0) as running:
        yield running


class TestProcesses:
    def test_json_rows_are_the_summaries_sorted(self, server: ServerProcess, written: Target) -> None:
        status, out, err = top(server, "--json", "-n", "0", "--sort", "pfnzero")
        assert status == 0, err
        document: dict[str, Any] = json.loads(out)
        rows = document["processes"]
        assert document["by"] == "pfnzero"
        keys = [row["categories_bytes"]["pfnzero"] for row in rows]
        assert keys == sorted(keys, reverse=True)
        (ours,) = [row for row in rows if row["pid"] == written.pid]
        with Client(server.url) as client:
            page_size = client.capabilities().page_size
            summary = client.summary(written.pid)
        assert ours["name"] == "pmtarget"
        assert ours["mapped_bytes"] == summary.pages * page_size
        by_name = {(c.name or "").lower(): n * page_size for c, n in summary.categories.items()}
        for name in ("present", "swapped", "huge", "pfnzero"):
            assert ours["categories_bytes"][name] == by_name.get(name, 0), name
        assert "file" not in ours["categories_bytes"]  # not asked for: the kernel skips its lookups
        assert all(row["pid"] != server.pid for row in rows)  # pmscan never scans itself

    def test_sorting_by_file_adds_its_column(self, server: ServerProcess, written: Target) -> None:
        status, out, _ = top(server, "--json", "-n", "3", "--sort", "file")
        assert status == 0
        rows = json.loads(out)["processes"]
        assert len(rows) == 3
        assert all("file" in row["categories_bytes"] for row in rows)

    def test_plain_table_off_a_terminal(self, server: ServerProcess, written: Target) -> None:
        status, out, _ = top(server, "-n", "0")
        assert status == 0
        assert not ANSI.search(out)
        lines = out.splitlines()
        assert lines[0].startswith("pmscan top: processes by present")
        # Sizes in KiB, the unit in every header, as summary and ps give them.
        assert COLUMNS.split(lines[1].strip()) == [
            "PID", "COMM", "MAPPED KiB", "PRESENT KiB *", "SWAPPED KiB", "HUGE KiB", "PFNZERO KiB",
        ]  # fmt: skip
        (row,) = [line.split() for line in lines[2:] if line.split()[0] == str(written.pid)]
        with Client(server.url) as client:
            summary = client.summary(written.pid)
        assert row[1] == "pmtarget"
        assert row[2:4] == [
            str(summary.pages * written.page_size // 1024),
            str(summary.categories[Category.PRESENT] * written.page_size // 1024),
        ]

    def test_the_processes_not_shown_are_counted_and_explained(
        self, deny_server: ServerProcess, written: Target
    ) -> None:
        """The node may not scan some processes (here: the target, on its deny list, and pmscan
        itself; elsewhere the kernel's EACCES for pid 1): they are no rows, and the view says how
        many and why, in the table's note and in --json."""
        status, out, err = top(deny_server, "--json", "-n", "0")
        assert status == 0, err
        document = json.loads(out)
        assert all(row["pid"] not in (written.pid, deny_server.pid) for row in document["processes"])
        not_shown = {entry["pid"]: entry for entry in document["not_shown"]}
        assert not_shown[written.pid] == {
            "pid": written.pid, "name": "pmtarget", "error": "AccessDenied", "code": "DENIED",
        }  # fmt: skip
        assert not_shown[deny_server.pid]["code"] == "DENIED"
        status, out, _ = top(deny_server, "-n", "3")
        note = out.splitlines()[-1]  # after the table (processes may exit between the two runs)
        assert re.match(r"\d+ not shown: ", note), out
        assert re.search(rf"\d+ access denied \(DENIED: pid [0-9, ]*\b{written.pid}\b", note), note


class TestGroups:
    def test_rows_are_the_exported_series(self, group_server: ServerProcess, written: Target) -> None:
        status, out, err = top(group_server, "--groups", "--json")
        assert status == 0, err
        rows = {row["name"]: row for row in json.loads(out)["groups"]}
        assert list(rows) == ["targets", "empty"]  # by present, largest first
        with group_server.client() as http:
            assert (
                rows["targets"]["processes"] == metric(http, "pmscan_group_processes", group="targets") == 1
            )
            present = metric(http, "pmscan_group_memory_bytes", group="targets", category="present")
        assert rows["targets"]["categories_bytes"]["present"] == present > 0
        assert rows["empty"] == {
            "name": "empty",
            "processes": 0,
            "mapped_bytes": 0,
            "categories_bytes": {"present": 0, "swapped": 0, "huge": 0, "pfnzero": 0},
        }

    def test_a_node_without_groups_says_so(self, server: ServerProcess) -> None:
        status, out, _ = top(server, "--groups")
        assert status == 0
        assert "the node exports none: PMSCAN_EXPORT_GROUPS" in out

    def test_refreshes_through_the_console_script(self, group_server: ServerProcess, written: Target) -> None:
        result = subprocess.run(
            [PMSCAN, "--url", group_server.url, "top", "--groups", "--json", "-i", "0.05", "--count", "3"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        documents = [json.loads(line) for line in result.stdout.splitlines()]
        assert len(documents) == 3
        assert all(d["groups"][0]["name"] == "targets" for d in documents)


class TestUsage:
    @pytest.mark.parametrize("argv", [["-i", "0"], ["-n", "-1"], ["-i", "1", "--count", "0"]])
    def test_bad_options(self, server: ServerProcess, argv: list[str]) -> None:
        status, _, err = top(server, *argv)
        assert status == 2
        assert "pmscan: error:" in err

    def test_unknown_sort_key(self, server: ServerProcess) -> None:
        with pytest.raises(SystemExit) as exited:
            top(server, "--sort", "resident")
        assert exited.value.code == 2


class TestTerminal:
    def test_redrawn_in_place_on_a_terminal(self, group_server: ServerProcess, written: Target) -> None:
        """On a pseudo-terminal rich draws the table, then redraws it over itself."""
        controller, terminal = pty.openpty()
        try:
            process = subprocess.Popen(
                [PMSCAN, "--url", group_server.url, "top", "--groups", "-i", "0.05", "--count", "3"],
                stdout=terminal,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"},
            )
            os.close(terminal)
            terminal = -1
            output = bytearray()
            while True:
                try:
                    chunk = os.read(controller, 1 << 16)
                except OSError:  # EIO: the terminal's last writer is gone
                    break
                if not chunk:
                    break
                output += chunk
            assert process.wait(60) == 0
        finally:
            os.close(controller)
            if terminal >= 0:
                os.close(terminal)
        text = output.decode(errors="replace")
        assert text.count("pmscan top: groups by present") >= 3  # drawn, redrawn twice (and on exit)
        assert "\x1b[1A" in text  # the cursor moves up to redraw
        assert "targets" in text


def test_both_clients_read_the_metrics_text(group_server: ServerProcess) -> None:
    async def read() -> str:
        async with AsyncClient(group_server.url) as node:
            return await node.metrics()

    with Client(group_server.url) as node:
        assert 'pmscan_group_processes{group="targets"}' in node.metrics()
    assert 'pmscan_group_processes{group="targets"}' in asyncio.run(read())
