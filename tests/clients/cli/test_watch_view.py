"""``pmscan watch``: one line per tick as it happens (plain and --json), the dirty rate of
``--written``, and the exit code of a watch whose process ends (on a terminal:
tests/clients/cli/test_screen.py)."""

from __future__ import annotations

import io
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

from pmscan_client.cli.main import main

from tests.support.server import ServerProcess
from tests.support.target import Target

PMSCAN = Path(sys.executable).with_name("pmscan")


def test_written_json_lines_as_they_come(server: ServerProcess, target: Target) -> None:
    area = target.anon("watched", 256)
    target.uffd_wp(area)
    command = [
        PMSCAN, "--url", server.url, "watch", str(target.pid), "--written",
        "--range", f"{area.start:#x}-{area.end:#x}", "--interval", "1", "--count", "3", "--json",
    ]  # fmt: skip
    writes = (50, 200)
    ticks = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as watch:
        assert watch.stdout is not None
        for line in watch.stdout:  # each line arrives when its tick is done
            ticks.append(json.loads(line))
            if len(ticks) <= len(writes):
                target.scatter(area, writes[len(ticks) - 1], seed=len(ticks))
    assert watch.returncode == 0
    assert [t["pages"] for t in ticks] == [0, *writes]
    assert ticks[0]["pages_per_second"] is None
    for previous, tick in itertools.pairwise(ticks):
        seconds = tick["time"] - previous["time"]
        assert tick["pages_per_second"] == tick["pages"] / seconds
        assert tick["bytes_per_second"] == tick["pages"] / seconds * target.page_size


def test_plain_table_lines(server: ServerProcess, target: Target) -> None:
    area = target.anon("a", 32)
    target.write(area, 0, 8)
    out = io.StringIO()
    status = main(
        ["--url", server.url, "watch", str(target.pid), "--present", "--range", f"{area.start}-{area.end}",
         "--interval", "0.05", "--count", "3"],
        stdout=out,
    )  # fmt: skip
    header, *rows = out.getvalue().splitlines()
    assert status == 0 and "\x1b" not in out.getvalue()
    # Columns two spaces or more apart; each count says its unit, as the rates do.
    assert re.split(r"\s{2,}", header.strip()) == [
        "tick",
        "time",
        "pages",
        "PRESENT pages",
        "FILE pages",
        "SWAPPED pages",
        "PFNZERO pages",
        "HUGE pages",
        "pages/s",
        "bytes/s",
    ]
    assert [row.split()[0] for row in rows] == ["0", "1", "2"]
    assert all(row.split()[2:4] == ["8", "8"] for row in rows)
    assert rows[0].split()[-2:] == ["-", "-"] and rows[1].split()[-3:] == ["0.0", "0", "B/s"]


def test_the_process_ends(server: ServerProcess, target: Target) -> None:
    err = io.StringIO()
    command = ["--url", server.url, "watch", str(target.pid), "--interval", "0.1", "--count", "100", "--json"]

    class Exiting(io.StringIO):
        def write(self, text: str) -> int:
            if self.tell() == 0:
                target.exit(0)  # after the first tick
            return super().write(text)

    out = Exiting()
    status = main(command, stdout=out, stderr=err)
    assert status == 3 and "EXITED" in err.getvalue()
    assert json.loads(out.getvalue().splitlines()[0])["tick"] == 0


def test_a_missing_process_prints_its_error_alone(server: ServerProcess) -> None:
    """No header (nor an empty table) before the 404: the error is all there is."""
    child = subprocess.Popen(["true"])
    child.wait()
    for json_option in ([], ["--json"]):
        out, err = io.StringIO(), io.StringIO()
        command = ["--url", server.url, "watch", str(child.pid), "--interval", "0.1", "--count", "3"]
        status = main([*command, *json_option], stdout=out, stderr=err)
        assert status == 3
        assert out.getvalue() == ""
        assert "ProcessNotFound" in err.getvalue() and "404" in err.getvalue()
