"""``pmscan map``: rows and cells for known layouts of a target, in plain text, JSON and SVG
(what a person sees on a terminal: tests/clients/cli/test_screen.py)."""

from __future__ import annotations

import io
import itertools
import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from pmscan_client import PageRegion
from pmscan_client._generated.models import MappingInfo
from pmscan_client.cli.main import main
from pmscan_client.cli.map_view import PERMS_NOTE, TINY_PAGES, State, paint, rows_of

from tests.support.server import ServerProcess
from tests.support.target import Area, Target

GIB = 1 << 30
AREA_PAGES = 512
SVG = "{http://www.w3.org/2000/svg}"
#: Columns before the bar: address (12), perms (5), size (9), a space after each.
BAR_AT = 29


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
        assert row.split()[1] in ("rw-p", "rw-p+") and set(row.split()[4]) == {"G"}  # + if a fence joined
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
        drawn = svg_text(svg)
        rows = map_json(server, target.pid)["rows"]
        plain = out.splitlines()[2 : 2 + len(rows)]
        assert [line.split()[0] for line in plain] == [f"{row['start']:x}" for row in rows]
        cells = len(rows[0]["cells"])
        for line, row in zip(plain, rows, strict=True):
            # The same row: address, perms, size and bar where the plain one has them; the name
            # whole, where plain text of 80 columns may cut it.
            (same,) = [d for d in drawn.lines if d.startswith(line[:BAR_AT])]
            assert len(same) == BAR_AT + cells + 1 + len(same[BAR_AT + cells + 1 :])
            assert same[BAR_AT + cells + 1 :] == row["name"]
        assert any(len(row["name"]) > 16 for row in rows) and any("…" in line for line in plain)
        assert "guard 2.0 MiB" in drawn.text and "present anon" in drawn.text

    def test_svg_columns_sit_over_their_values(
        self, server: ServerProcess, target: Target, layout: dict[str, Area], tmp_path: Path
    ) -> None:
        """Renderers drop the spaces that begin an SVG text element: no element may begin with
        one, or a right-aligned column (the header, a short address) moves left."""
        svg = tmp_path / "map.svg"
        assert pmscan("map", target.pid, "--url", server.url, "--svg", svg)[0] == 0
        drawn = svg_text(svg)
        assert drawn.leading_spaces == []
        header = next(line for line in drawn.lines if line.lstrip().startswith("address"))
        rows = map_json(server, target.pid)["rows"]
        first = next(line for line in drawn.lines if line.startswith(f"{rows[0]['start']:x} "))
        assert header.index("address") + len("address") == 12  # right-aligned over the addresses
        assert header.index("mapping") == BAR_AT + len(rows[0]["cells"]) + 1 == first.index(rows[0]["name"])

    def test_svg_colours_tell_the_states_apart(
        self, server: ServerProcess, target: Target, layout: dict[str, Area], tmp_path: Path
    ) -> None:
        """The legend's blocks, in the SVG's own colours: no two states alike (the zero page was a
        teal next to the file blue)."""
        svg = tmp_path / "map.svg"
        assert pmscan("map", target.pid, "--url", server.url, "--svg", svg)[0] == 0
        drawn = svg_text(svg)
        colours = {}
        for state in State:
            (found,) = [
                (n, match.start())
                for n, text in enumerate(drawn.lines)
                for match in re.finditer(rf"[█·] {state.label}\b", text)
            ]
            colours[state] = drawn.colours[found]
        for one, other in itertools.combinations(State, 2):
            assert distance(colours[one], colours[other]) > 40, (one, other, colours[one], colours[other])


def distance(one: str, other: str) -> float:
    """How far apart two ``#rrggbb`` colours are (Euclidean, in RGB)."""
    a, b = (tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5)) for colour in (one, other))
    return math.dist(a, b)


class SvgText(NamedTuple):
    """The text of an SVG that rich exported: each line as the characters at their columns, each
    character's fill colour by (line, column), and the text elements that begin with a space."""

    lines: list[str]
    colours: dict[tuple[int, int], str]
    leading_spaces: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def svg_text(path: Path) -> SvgText:
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    style = "".join(element.text or "" for element in root.iter(f"{SVG}style"))
    fills = dict(re.findall(r"\.([\w-]+) \{ fill: (#[0-9a-f]{6})", style))
    chars: dict[int, dict[int, str]] = {}
    colours: dict[tuple[int, int], str] = {}
    leading: list[str] = []
    for element in root.iter(f"{SVG}text"):
        if "textLength" not in element.attrib:
            continue  # the window's title
        text = (element.text or "").replace("\xa0", " ")
        if text.startswith(" "):
            leading.append(text)
        column = round(float(element.attrib["x"]) / (float(element.attrib["textLength"]) / len(text)))
        clip = re.search(r"line-(\d+)", element.attrib["clip-path"])
        assert clip is not None
        line = int(clip.group(1))
        for offset, char in enumerate(text):
            chars.setdefault(line, {})[column + offset] = char
            colours[line, column + offset] = fills[element.attrib["class"]]
    lines = [
        "".join(row.get(column, " ") for column in range(max(row) + 1)).rstrip() if row else ""
        for row in (chars.get(line, {}) for line in range(max(chars) + 1))
    ]
    return SvgText(lines, colours, leading)


class TestPermissions:
    def test_a_row_shows_the_permissions_of_its_largest_part(
        self, server: ServerProcess, target: Target
    ) -> None:
        """libc's row joins its text (r-xp) with its read-only and writable data: ``r-xp+``, not
        the union ``rwxp`` that no part of it has. The parts are /proc/PID/maps's lines."""
        document = map_json(server, target.pid)
        maps = [line.split() for line in Path(f"/proc/{target.pid}/maps").read_text().splitlines()]
        for row in document["rows"]:
            parts = [(p["start"], p["end"], p["perms"]) for p in row["parts"]]
            assert parts == [
                (int(m[0].split("-")[0], 16), int(m[0].split("-")[1], 16), m[1])
                for m in maps
                if row["start"] <= int(m[0].split("-")[0], 16) < row["end"]
            ]
            sizes: dict[str, int] = {}
            for start, end, perms in parts:
                sizes[perms] = sizes.get(perms, 0) + end - start
            assert row["perms"] == max(sizes, key=lambda perms: sizes[perms])
        (libc,) = [row for row in document["rows"] if row["name"].startswith("libc.so")]
        assert libc["perms"] == "r-xp" and {p["perms"] for p in libc["parts"]} >= {"r-xp", "r--p", "rw-p"}

        status, out, _ = pmscan("map", target.pid, "--url", server.url, "--width", "120")
        assert status == 0
        (line,) = [line for line in out.splitlines() if line.startswith(f"{libc['start']:x} ")]
        assert line.split()[1] == "r-xp+"
        assert "rwxp" not in out
        legend = " ".join(out.split("\n\n", 1)[1].split())
        assert f"{PERMS_NOTE} (pmscan maps {target.pid} lists each mapping)" in legend


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
