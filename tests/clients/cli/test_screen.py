"""``pmscan map``, ``watch`` and ``top`` as a person sees them: run in a tmux pane, the screen
read back with its colours, for known layouts of a target; keys typed into it."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pmscan_client.cli.main import main
from pmscan_client.cli.map_view import State

from tests.support.screen import Cell, Screen, TmuxUnavailableError
from tests.support.server import ServerProcess
from tests.support.target import Area, Target

PMSCAN = str(Path(sys.executable).with_name("pmscan"))
AREA_PAGES = 512
#: The SGR foreground code of each state's colour (rich's standard colours).
SGR = {
    "green": "32",
    "blue": "34",
    "magenta": "35",
    "yellow": "33",
    "cyan": "36",
    "white": "37",
    "bright_red": "91",
    "bright_black": "90",
}
#: Columns before the bar: address, perms (5: r-xp+), size (see pmscan_client.cli.map_view).
BAR_AT = 29


@pytest.fixture
def screen_of() -> Iterator[Any]:
    screens: list[Screen] = []

    def start(*argv: object, width: int = 100, height: int = 40) -> Screen:
        try:
            screen = Screen([PMSCAN, *(str(a) for a in argv)], width=width, height=height)
        except TmuxUnavailableError as e:
            pytest.skip(str(e))
        screens.append(screen)
        return screen

    yield start
    for screen in screens:
        screen.close()


def map_rows(server: ServerProcess, pid: int) -> list[dict[str, Any]]:
    out = io.StringIO()
    assert main(["--url", server.url, "map", str(pid), "--json"], stdout=out) == 0
    rows: list[dict[str, Any]] = json.loads(out.getvalue())["rows"]
    return rows


def screen_row(lines: list[list[Cell]], start: int) -> list[Cell]:
    (line,) = [cells for cells in lines if "".join(c.char for c in cells).startswith(f"{start:>12x} ")]
    return line


def bar_of(line: list[Cell]) -> list[Cell]:
    """The cells of a row's bar: from its column to the space before the mapping's name."""
    end = BAR_AT
    while end < len(line) and line[end].char in "█░·":
        end += 1
    return line[BAR_AT:end]


def bar_colours(line: list[Cell]) -> set[tuple[str, str | None]]:
    return {(c.char, c.colour) for c in bar_of(line)}


@pytest.fixture
def layout(target: Target, tmp_path: Path) -> dict[str, Area]:
    target.anon("spacer", AREA_PAGES)  # keeps glibc's small mappings out of the test's rows
    areas = {
        "anon": target.anon("anon", AREA_PAGES),
        "guard": target.anon("guard", AREA_PAGES),
        "zero": target.anon("zero", AREA_PAGES),
        "file": target.file("file", tmp_path / "data", AREA_PAGES),
    }
    target.write("anon", 0, AREA_PAGES)
    target.guard("guard", 0, AREA_PAGES)
    target.read("zero", 0, AREA_PAGES)
    target.write("file", 0, AREA_PAGES)
    return areas


class TestMap:
    @pytest.mark.parametrize("width", [80, 132])
    def test_rows_colours_and_legend(
        self, server: ServerProcess, target: Target, layout: dict[str, Area], screen_of: Any, width: int
    ) -> None:
        screen = screen_of("--url", server.url, "map", target.pid, width=width)
        assert screen.wait_done() == 0
        rows = map_rows(server, target.pid)
        lines = screen.lines()
        text = screen.text()
        assert all(len(line.rstrip()) <= width for line in text.splitlines())
        cells = len(bar_of(screen_row(lines, rows[0]["start"])))
        expected = {"anon": State.ANON, "guard": State.GUARD, "zero": State.ZERO, "file": State.FILE}
        for name, state in expected.items():
            (row,) = [r for r in rows if r["start"] <= layout[name].start < r["end"]]
            line = screen_row(lines, row["start"])
            assert bar_colours(line) == {("█", SGR[state.colour])}, name
            assert "".join(c.char for c in line[BAR_AT + cells :]).strip() in ("[anon]", "data")
        # The legend: each state, in its colour.
        for state in State:
            glyph = "·" if state is State.EMPTY else "█"
            entries = [
                line[at]
                for line in lines
                for at in range(len(line) - 2)
                if "".join(c.char for c in line[at : at + 2 + len(state.label)]) == f"{glyph} {state.label}"
            ]
            assert [entry.colour for entry in entries] == [SGR[state.colour]], state
        # The bars use the terminal's width, the mapping's name after them: whole, unless the
        # names would take more than a third of the columns left after the address, perms, size.
        longest = max(len(row["name"]) for row in rows)
        assert cells == (width - BAR_AT - 1 - min(longest, max((width - BAR_AT - 1) // 3, 16))), text

    def test_thp_shows_as_huge(self, server: ServerProcess, target: Target, screen_of: Any) -> None:
        if "[never]" in Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text():
            pytest.skip("transparent huge pages are disabled on this machine")
        target.anon("spacer", AREA_PAGES)
        area = target.thp("thp", 8)
        rows = map_rows(server, target.pid)
        (row,) = [r for r in rows if r["start"] <= area.start < r["end"]]
        if not row["pages"].get("huge"):
            pytest.skip("the kernel gave the area no huge page (memory fragmented)")
        screen = screen_of("--url", server.url, "map", target.pid)
        assert screen.wait_done() == 0
        line = screen_row(screen.lines(), row["start"])
        assert bar_colours(line) == {("█", SGR[State.HUGE.colour])}

    @pytest.mark.root
    @pytest.mark.swap
    def test_swapped_pages_show_as_swapped(
        self, server: ServerProcess, target: Target, swap: Path, screen_of: Any
    ) -> None:
        target.anon("spacer", AREA_PAGES)
        area = target.anon("out", AREA_PAGES)
        target.write(area, 0, AREA_PAGES)
        target.pageout(area, 0, AREA_PAGES)
        rows = map_rows(server, target.pid)
        (row,) = [r for r in rows if r["start"] <= area.start < r["end"]]
        screen = screen_of("--url", server.url, "map", target.pid)
        assert screen.wait_done() == 0
        line = screen_row(screen.lines(), row["start"])
        assert bar_colours(line) == {("█", SGR[State.SWAPPED.colour])}


class TestWatch:
    def test_the_live_table(self, server: ServerProcess, target: Target, screen_of: Any) -> None:
        area = target.anon("a", 64)
        target.write(area, 0, 10)
        screen = screen_of(
            "--url", server.url, "watch", target.pid, "--present",
            "--range", f"{area.start:#x}-{area.end:#x}", "--interval", "0.2", "--count", "5",
        )  # fmt: skip
        assert screen.wait_done() == 0
        text = screen.text()
        # One table, redrawn in place: its title and header once, a row per tick.
        assert text.count(f"pmscan watch {target.pid}") == 1, "\n".join(screen.raw_lines()[:4])
        assert text.count("pages/s") == 1
        rows = [
            line.split()
            for line in text.splitlines()
            if line.split()[:1] in (["0"], ["1"], ["2"], ["3"], ["4"])
        ]
        assert [row[0] for row in rows] == ["0", "1", "2", "3", "4"]
        assert all(row[2:4] == ["10", "10"] for row in rows)
        assert "\x1b" not in text
        title = next(line for line in screen.lines() if "pmscan watch" in "".join(c.char for c in line))
        assert any(c.bold for c in title if c.char.strip())

    def test_a_missing_process_shows_its_error_alone(self, server: ServerProcess, screen_of: Any) -> None:
        """No title or empty table before the 404."""
        child = subprocess.Popen(["true"])
        child.wait()
        screen = screen_of("--url", server.url, "watch", child.pid, "--interval", "0.2", "--count", "5")
        assert screen.wait_done() == 3
        lines = [line for line in screen.text().splitlines() if line.strip() and "Pane is dead" not in line]
        assert len(lines) == 1 and lines[0].startswith("pmscan: ProcessNotFound: "), lines


class TestTop:
    def test_q_quits_the_live_view(self, server: ServerProcess, target: Target, screen_of: Any) -> None:
        screen = screen_of("--url", server.url, "top", "-i", "0.3", "-n", "5")
        screen.wait_for("pmscan top: processes by present")
        assert screen.exit_status() is None  # it refreshes until told otherwise
        screen.press("q")
        assert screen.wait_done(timeout=10) == 0
        assert "pmscan top: processes by present" in screen.text()  # the last table stays

    def test_the_processes_not_shown_are_noted(self, server: ServerProcess, screen_of: Any) -> None:
        """pmscan itself is never scanned: the note under the table says so."""
        screen = screen_of("--url", server.url, "top", "-n", "3")
        assert screen.wait_done() == 0
        text = " ".join(screen.text().split())  # the note is folded at the table's width
        assert re.search(rf"\d+ not shown: .*access denied \(DENIED: pid [0-9, ]*\b{server.pid}\b", text), (
            text
        )


class TestTables:
    @pytest.mark.parametrize("width", [80, 90])
    def test_summary_by_vma_keeps_every_number_whole(
        self, server: ServerProcess, target: Target, screen_of: Any, width: int
    ) -> None:
        """On a terminal narrower than the table, only the mapping's path is cut; each column of
        sizes has its unit under its name."""
        screen = screen_of("--url", server.url, "summary", target.pid, "--by-vma", width=width)
        assert screen.wait_done() == 0
        lines = [line for line in screen.text().splitlines() if line.strip() and "Pane is dead" not in line]
        names, units = lines[0].split(), lines[1].split()
        assert names[:2] == ["Size", "Matched"]
        assert units[:2] == ["Address", "Perm"] and units[-1] == "Mapping"
        assert units[2:-1] == ["KiB"] * len(names)  # the unit in every header
        starts = {line.split("-")[0] for line in Path(f"/proc/{target.pid}/maps").read_text().splitlines()}
        rows = [line.split() for line in lines[3:] if line.split()[0] in starts]
        assert len(rows) >= 5
        assert all(row[1][-1] in "ps" and row[2].isdigit() and row[3].isdigit() for row in rows)
        assert all(len(row) in (len(units) - 1, len(units)) for row in rows)  # none lost (paths may be "")
        assert all(len(line) <= width for line in lines)
        assert lines[-2].startswith("─") and lines[-1].split()[0] == "total"  # the totals, under a rule
