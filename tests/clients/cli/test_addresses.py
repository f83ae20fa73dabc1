"""``--range``: every form the command reads — 0x-hex, decimal, and the bare hex of
``/proc/PID/maps`` and ``pmscan maps`` — the one ambiguous form refused, and a range copied
from ``pmscan maps`` scanning what the 0x form scans."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pmscan_client.cli.addresses import parse_range
from pmscan_client.cli.exits import UsageError
from pmscan_client.cli.main import main

from tests.support.server import ServerProcess
from tests.support.target import Area, Target


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        ("0x7fdc70e00000-0x7fdc74e00000", (0x7FDC70E00000, 0x7FDC74E00000)),
        ("7fdc70e00000-7fdc74e00000", (0x7FDC70E00000, 0x7FDC74E00000)),  # as `pmscan maps` prints it
        ("7FDC70E00000-7FDC74E00000", (0x7FDC70E00000, 0x7FDC74E00000)),
        ("00400000-0040b000", (0x400000, 0x40B000)),  # /proc/PID/maps pads to 8 digits
        ("00400000-00600000", (0x400000, 0x600000)),  # digits alone, but zero-padded: maps's
        ("555555554000-55555555a000", (0x555555554000, 0x55555555A000)),  # one letter marks both
        ("140584763260928-140584830369792", (0x7FDC70E00000, 0x7FDC74E00000)),  # decimal
        ("4194304-6291456", (0x400000, 0x600000)),
        ("0x1000-8192", (0x1000, 0x2000)),
        ("0-4096", (0, 0x1000)),
        ("4096-", (0x1000, None)),
        ("-8192", (None, 0x2000)),
        ("7fdc70e00000-", (0x7FDC70E00000, None)),
        ("-7fdc74e00000", (None, 0x7FDC74E00000)),
        (" 0x1000-0x2000 ", (0x1000, 0x2000)),
    ],
)
def test_the_forms_read(text: str, bounds: tuple[int | None, int | None]) -> None:
    expected = {
        name: value for name, value in zip(("start", "end"), bounds, strict=True) if value is not None
    }
    assert parse_range(text) == expected


def test_no_range() -> None:
    assert parse_range(None) == {} == parse_range("")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # maps's addresses in digits alone would be read as decimal: refused, with the hex spelling.
        ("555555554000-555555556000", "--range=0x555555554000-0x555555556000"),
        ("-555555556000", "--range=-0x555555556000"),
        ("0x1000-2000", "--range=0x1000-0x2000"),
        ("nonsense", "expected A-B, A- or -B"),
        ("-", "expected A-B, A- or -B"),
        ("0x-", "'0x' is no address"),
        ("0x1g-", "'0x1g' is no address"),
        ("12-34-56", "'34-56' is no address"),
    ],
)
def test_what_is_refused(text: str, message: str) -> None:
    with pytest.raises(UsageError, match="--range") as refused:
        parse_range(text)
    assert message in str(refused.value)


def test_the_help_says_which_forms(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["scan", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for form in ("0x7fdc70e00000", "decimal", "/proc/PID/maps", "`pmscan maps`", "7fdc70e00000-7fdc74e00000"):
        assert form in text, form
    assert "a multiple of 4096" in text


def summary_of(server: ServerProcess, pid: int, text: str) -> dict[str, object]:
    out, err = io.StringIO(), io.StringIO()
    assert (
        main(["--url", server.url, "summary", str(pid), "--range", text, "--json"], stdout=out, stderr=err)
        == 0
    ), err.getvalue()
    document: dict[str, object] = json.loads(out.getvalue())
    return document


def test_a_range_copied_from_maps(server: ServerProcess, target: Target, patterned: Area) -> None:
    """The first column of ``pmscan maps`` and of ``/proc/PID/maps``, pasted into ``--range``."""
    out = io.StringIO()
    assert main(["--url", server.url, "maps", str(target.pid)], stdout=out) == 0
    (printed,) = [
        line.split()[0]
        for line in out.getvalue().splitlines()
        if int(line.split("-")[0], 16) == patterned.start
    ]
    (proc,) = [
        line.split()[0]
        for line in Path(f"/proc/{target.pid}/maps").read_text().splitlines()
        if int(line.split("-")[0], 16) == patterned.start
    ]
    expected = summary_of(server, target.pid, f"{patterned.start:#x}-{patterned.end:#x}")
    assert expected["start"] == patterned.start and expected["pages"] == patterned.size // target.page_size
    assert summary_of(server, target.pid, printed) == expected
    assert summary_of(server, target.pid, proc) == expected
    assert summary_of(server, target.pid, f"{patterned.start}-{patterned.end}") == expected
