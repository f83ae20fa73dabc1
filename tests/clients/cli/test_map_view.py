"""``pmscan map``: rows and cells for known layouts of a target, in plain text, JSON and SVG
(what a person sees on a terminal: tests/clients/test_screen.py)."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from pmscan_client import PageRegion
from pmscan_client._generated.models import MappingInfo
from pmscan_client.cli.main import main
from pmscan_client.cli.map_view import TINY_PAGES, State, paint, rows_of

from tests.support.server import ServerProcess
from tests.support.target import Area, Target

GIB = 1 << 30
AREA_PAGES = 512


def pmscan(*argv: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main([str(a) for a in argv], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def map_json(server: ServerProcess, pid: int) -> dict[str, Any]:
    status, out, err = pmscan("map", pid, "--url", server.url, "--json")
    assert status == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


def row_of(document: dict[str, Any], area: Area) -> dict[str, Any]:
    (row,) = [r for r in document["rows"] if r["start"] <= area.start < r["end"]]
    return row


def spacer(target: Target) -> None:
    """An area between glibc's small anonymous mappings and the test's: they would join its row."""
    target.anon("spacer", AREA_PAGES)


@pytest.fixture
def layout(target: Target, tmp_path: Path) -> dict[str, Area]:
    """One area per state, each a row of its own. The target's fence pages join a neighbour's
    row: at 512 pages a row, two of them never make a cell (of ~15 pages at 80 columns)."""
    spacer(target)
    areas = {
        "anon": target.anon("anon", AREA_PAGES),
        "zero": target.anon("zero", AREA_PAGES),
        "guard": target.anon("guard", AREA_PAGES),
        "file": target.file("file", tmp_path / "data", AREA_PAGES),
        "half": target.anon("half", AREA_PAGES),
        "untouched": target.anon("untouched", AREA_PAGES),
    }
    target.write("anon", 0, AREA_PAGES)
    target.read("zero", 0, AREA_PAGES)
    target.guard("guard", 0, AREA_PAGES)
    target.write("file", 0, AREA_PAGES)
    target.write("half", 0, AREA_PAGES // 2)
    return areas


class TestRows:
    def test_each_state_fills_its_row(
        self, server: ServerProcess, target: Target, layout: dict[str, Area]
    ) -> None:
        document = map_json(server, target.pid)
        letters = {name: row_of(document, area)["cells"] for name, area in layout.items()}
        assert set(letters["anon"]) == {"A"}
        assert set(letters["zero"]) == {"Z"}
        assert set(letters["guard"]) == {"G"}
        assert set(letters["file"]) == {"F"}
        assert set(letters["untouched"]) == {"."}
        half = letters["half"]
        # Written, then not populated; the cell on the boundary is either, or mixed (lower case).
        assert re.fullmatch(r"A+a?\.+", half), half
        assert abs(half.count("A") - len(half) / 2) <= 1
        for area in layout.values():
            row = row_of(document, area)
            # The area is one row, joined at most by tiny neighbours (its fences, say).
            assert row["end"] >= area.end
            assert row["end"] - row["start"] - area.size <= 2 * TINY_PAGES * target.page_size
        assert row_of(document, layout["file"])["name"] == "data"
        assert row_of(document, layout["zero"])["pages"] == {"zero page": AREA_PAGES}
        assert row_of(document, layout["guard"])["pages"] == {"guard": AREA_PAGES}

    def test_thp_shows_as_huge(self, server: ServerProcess, target: Target) -> None:
        if "[never]" in Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text():
            pytest.skip("transparent huge pages are disabled on this machine")
        spacer(target)
        area = target.thp("thp", 8)
        row = row_of(map_json(server, target.pid), area)
        if not row["pages"].get("huge"):
            pytest.skip("the kernel gave the area no huge page (memory fragmented)")
        assert set(row["cells"]) == {"H"}

    @pytest.mark.root
    @pytest.mark.swap
    def test_swapped_pages_show_as_swapped(self, server: ServerProcess, target: Target, swap: Path) -> None:
        spacer(target)
        area = target.anon("out", AREA_PAGES)
        target.write(area, 0, AREA_PAGES)
        target.pageout(area, 0, AREA_PAGES)
        row = row_of(map_json(server, target.pid), area)
        assert row["pages"] == {"swapped": AREA_PAGES}
        assert set(row["cells"]) == {"S"}

    def test_a_sparse_16_gib_mapping(self, server: ServerProcess, target: Target) -> None:
        """The kernel skips the empty space (category_anyof_mask): one row, mostly not populated,
        with its few pages shown where they are."""
        spacer(target)
        area = target.reserve("sparse", 16 * GIB)
        pages = area.size // target.page_size
        target.write(area, 0, 4, pages // 4)  # at 0, 4, 8 and 12 GiB
        row = row_of(map_json(server, target.pid), area)
        assert row["pages"] == {"present anon": 4}
        cells = row["cells"]
        assert [i for i, c in enumerate(cells) if c != "."] == [i * len(cells) // 4 for i in range(4)]
        assert {c for c in cells if c != "."} == {"a"}  # lower case: mostly not populated


class TestText:
    def test_plain_rows_legend_and_width(
        self, server: ServerProcess, target: Target, layout: dict[str, Area]
    ) -> None:
        status, out, _ = pmscan("map", target.pid, "--url", server.url)
        assert status == 0
        lines = out.splitlines()
        assert lines[0].startswith(f"pid {target.pid}: ")
        assert lines[1].split() == ["address", "perm", "size", "pages", "mapping"]
        assert max(len(line) for line in lines) <= 80
        assert "\x1b" not in out  # plain: no escape sequences
        (row,) = [line for line in lines if line.endswith("[anon]") and "G" in line]
        assert row.split()[1] == "rw-p" and set(row.split()[4]) == {"G"}
        legend = " ".join(lines[lines.index("") + 1 :])
        for state in State:
            assert state.label in legend
        assert "G guard 2.0 MiB" in legend

    def test_wider(self, server: ServerProcess, target: Target, layout: dict[str, Area]) -> None:
        status, out, _ = pmscan("map", target.pid, "--url", server.url, "--width", "160")
        assert status == 0 and max(len(line) for line in out.splitlines()) > 120

    def test_svg_holds_the_same_rows(
        self, server: ServerProcess, target: Target, layout: dict[str, Area], tmp_path: Path
    ) -> None:
        svg = tmp_path / "map.svg"
        status, out, _ = pmscan("map", target.pid, "--url", server.url, "--svg", svg)
        assert status == 0
        root = ET.parse(svg).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        text = "".join(e.text or "" for e in root.iter() if e.tag.endswith("text")).replace("\xa0", " ")
        drawn = text.splitlines()
        rows = map_json(server, target.pid)["rows"]
        plain = out.splitlines()[2 : 2 + len(rows)]
        assert [line.split()[0] for line in plain] == [f"{row['start']:x}" for row in rows]
        for line in plain:
            # The same row: address, perms, size and name; the bar in coloured blocks.
            (same,) = [d for d in drawn if d.startswith(line[:28])]
            assert same.endswith(line[28 + len(rows[0]["cells"]) :])
            assert len(same) == len(line)
        assert "guard 2.0 MiB" in text and "present anon" in text


def test_paint_counts_each_page_once() -> None:
    """Cells from regions, without a server: a row of 100 pages in 10 cells."""
    page = 4096
    mapping = MappingInfo(
        start=0x10000, end=0x10000 + 100 * page, perms="rw-p", offset=0, dev="00:00", inode=0, path=""
    )
    (row,) = rows_of([mapping], page_size=page, limit=1 << 47)
    regions = [
        PageRegion(0x10000, 0x10000 + 30 * page, 8),
        PageRegion(0x10000 + 95 * page, 0x10000 + 100 * page, 8),
    ]
    paint([row], regions, cells=10, page_size=page)
    assert row.pages == {State.ANON: 35}
    assert [c.state.letter if not c.sparse else c.state.letter.lower() for c in row.cells] == list(
        "AAA......A"
    )
