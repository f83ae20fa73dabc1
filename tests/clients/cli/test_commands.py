"""The ``pmscan`` command: its output against the SDK's answers, and its exit codes.

Most runs call ``main()`` in this process; the console script itself runs as a subprocess for
the binary format, the environment variables and SIGPIPE."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pmscan_client import Category, Client
from pmscan_client.cli.console import ScanProgress
from pmscan_client.cli.exits import EXIT_CODES, HELP
from pmscan_client.cli.main import main

from tests.support.server import ServerProcess, free_port
from tests.support.target import Area, Target

PMSCAN = Path(sys.executable).with_name("pmscan")
RECORD = struct.Struct("<QQQ")
#: Columns of the plain tables: two spaces or more apart (a header may hold one: "Size KiB").
COLUMNS = re.compile(r"\s{2,}")


def pmscan(*argv: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main([str(a) for a in argv], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def scan_range(area: Area) -> str:
    return f"{area.start:#x}-{area.end:#x}"


class TestScan:
    def test_ndjson_is_the_servers_format(
        self, server: ServerProcess, target: Target, patterned: Area
    ) -> None:
        status, out, _ = pmscan("scan", target.pid, "--url", server.url, "--range", scan_range(patterned))
        with server.client() as http:
            answer = http.post(
                "/scan", json={"pid": target.pid, "start": patterned.start, "end": patterned.end}
            )
        assert status == 0
        assert [json.loads(line) for line in out.splitlines()] == [
            json.loads(line) for line in answer.text.splitlines()
        ]

    def test_category_options(
        self, client: Client, server: ServerProcess, target: Target, patterned: Area
    ) -> None:
        status, out, _ = pmscan(
            "--url", server.url, "scan", target.pid, "--range", scan_range(patterned),
            "--present", "--not", "pfnzero", "--return", "present,written", "--format", "json",
        )  # fmt: skip
        document = json.loads(out)
        expected = list(
            client.scan(
                target.pid, start=patterned.start, end=patterned.end,
                category_mask=Category.PRESENT | Category.PFNZERO, category_inverted=Category.PFNZERO,
                return_mask=Category.PRESENT | Category.WRITTEN,
            )
        )  # fmt: skip
        assert status == 0 and len(expected) == 8
        assert [(r["start"], r["end"], r["categories"]) for r in document["regions"]] == [
            (r.start, r.end, ["WRITTEN", "PRESENT"]) for r in expected
        ]
        assert (document["pid"], document["walk_end"], document["pages"]) == (target.pid, patterned.end, 8)

    def test_text_format_and_paging(self, server: ServerProcess, target: Target, patterned: Area) -> None:
        status, out, _ = pmscan(
            "scan", target.pid, "--url", server.url, "--range", scan_range(patterned), "--format", "text",
            "--per-request", "1000", "--max-pages", "10",
        )  # fmt: skip
        lines = out.splitlines()
        assert status == 0 and sum(int(line.split()[1]) for line in lines) == 10
        assert lines[0].startswith(f"{patterned.start:016x}-")

    def test_binary_through_the_console_script_with_environment(
        self, uds_server: ServerProcess, target: Target, patterned: Area
    ) -> None:
        env = {**os.environ, "PMSCAN_UDS": str(uds_server.uds), "PMSCAN_URL": "http://127.0.0.1:1"}
        done = subprocess.run(
            [PMSCAN, "scan", str(target.pid), "--range", scan_range(patterned), "--format", "binary"],
            env=env, capture_output=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        *records, trailer = list(RECORD.iter_unpack(done.stdout))
        with Client(uds=str(uds_server.uds)) as client:
            assert records == [
                tuple(r) for r in client.scan(target.pid, start=patterned.start, end=patterned.end)
            ]
        assert trailer == ((1 << 64) - 1, patterned.end, len(records))

    def test_a_closed_pipe_is_quiet(self, server: ServerProcess, target: Target, patterned: Area) -> None:
        pmscan = shlex.quote(str(PMSCAN))
        done = subprocess.run(
            f"{pmscan} --url {server.url} scan {target.pid} --range {scan_range(patterned)} | head -1",
            shell=True, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.stdout.startswith('{"start"') and done.stderr == ""


class TestOtherCommands:
    def test_summary_table_and_json(
        self, client: Client, server: ServerProcess, target: Target, patterned: Area
    ) -> None:
        status, out, _ = pmscan("summary", target.pid, "--url", server.url, "--json")
        summary = client.summary(target.pid)
        assert status == 0 and json.loads(out)["categories"] == {
            c.name: n for c, n in summary.categories.items()
        }
        status, out, _ = pmscan("summary", target.pid, "--url", server.url, "--range", scan_range(patterned))
        rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
        assert status == 0 and rows["PFNZERO"] == ["2048", str(2048 * target.page_size // 1024)]
        assert f"{patterned.size // target.page_size} pages" in out

    def test_summary_by_vma_reads_like_pmap(
        self, client: Client, server: ServerProcess, target: Target, patterned: Area
    ) -> None:
        """One row per mapping, sizes in KiB, and each size column says so in its header."""
        status, out, _ = pmscan("summary", target.pid, "--by-vma", "--url", server.url)
        header, *rows = out.splitlines()
        columns = COLUMNS.split(header.strip())
        assert status == 0 and columns[:4] == ["Address", "Perm", "Size KiB", "Matched KiB"]
        summary = client.summary(target.pid)
        assert columns[4:-1] == [f"{c.name} KiB" for c in summary.categories] and columns[-1] == "Mapping"
        (row,) = [r for r in rows if r.startswith(f"{patterned.start:x} ")]
        assert row.split()[1:3] == ["rw-p", str(patterned.size // 1024)]
        totals = rows[-1].split()
        assert totals[0] == "total"
        assert totals[2] == str(summary.pages * target.page_size // 1024)  # Matched KiB

    def test_ps_maps_caps(self, server: ServerProcess, target: Target) -> None:
        status, out, _ = pmscan("ps", "--comm", "pmtarget", "--url", server.url)
        assert status == 0 and any(line.split()[0] == str(target.pid) for line in out.splitlines()[1:])
        status, out, _ = pmscan("ps", "--uid", os.getuid(), "--json", "--url", server.url)
        assert status == 0 and target.pid in {p["pid"] for p in json.loads(out)}
        status, out, _ = pmscan("maps", target.pid, "--url", server.url)
        proc = Path(f"/proc/{target.pid}/maps").read_text().splitlines()
        assert status == 0 and [line.split()[0] for line in out.splitlines()] == [
            line.split()[0] for line in proc
        ]
        status, out, _ = pmscan("caps", "--json", "--url", server.url)
        assert status == 0 and json.loads(out)["page_size"] == target.page_size
        assert pmscan("clear-soft-dirty", target.pid, "--url", server.url)[0] == 0

    def test_fleet(self, client: Client, server: ServerProcess, target: Target) -> None:
        dead = f"http://127.0.0.1:{free_port()}"
        status, out, err = pmscan(
            "fleet", server.url, dead, "summary", target.pid, "--present", "--scheme", "http"
        )
        assert status == 8 and dead in err and "TransportError" in err
        assert out.splitlines()[1].split()[:2] == [server.url, str(target.pid)]
        assert out.splitlines()[-1].startswith("total")
        # KiB, as summary --by-vma gives them, and the unit in every header.
        summary = client.summary(target.pid, category_mask=Category.PRESENT)
        assert COLUMNS.split(out.splitlines()[0].strip()) == [
            "Node", "PID", "Matched KiB", *(f"{c.name} KiB" for c in summary.categories),
        ]  # fmt: skip
        kib = [n * target.page_size // 1024 for n in (summary.pages, *summary.categories.values())]
        assert out.splitlines()[1].split()[2:] == [str(n) for n in kib]
        status, out, _ = pmscan(
            "fleet",
            "--service",
            "127.0.0.1",
            "--port",
            server.port,
            "--scheme",
            "http",
            "--json",
            "summary",
            target.pid,
        )
        assert status == 0 and json.loads(out)["nodes"][server.url]["pid"] == target.pid
        status, out, _ = pmscan("fleet", server.url, "caps")
        assert status == 0 and out.startswith(f"== {server.url}")


class TestFleetNodes:
    def test_one_node_under_two_names_is_asked_once(self, server: ServerProcess, target: Target) -> None:
        localhost = server.url.replace("127.0.0.1", "localhost")
        status, out, err = pmscan(
            "fleet", server.url, localhost, server.url, "summary", target.pid, "--present", "--json"
        )
        assert status == 0
        assert list(json.loads(out)["nodes"]) == [server.url]
        assert f"pmscan: fleet: {localhost} is a node named before it" in err

    def test_other_schemes_and_ports_are_other_nodes(self, server: ServerProcess) -> None:
        other = f"http://localhost:{free_port()}"
        status, out, err = pmscan("fleet", server.url, other, "caps", "--json")
        assert status == 8
        assert list(json.loads(out)["nodes"]) == [server.url] and f"cannot connect to {other}" in err


@pytest.fixture(scope="module")
def auth_server() -> Iterator[ServerProcess]:
    """A server with authentication on (its first start makes a token file and an admin token)."""
    with ServerProcess() as running:
        yield running


class TestMessages:
    def test_unreachable_names_the_url_tried(self) -> None:
        dead = f"http://127.0.0.1:{free_port()}"
        status, _, err = pmscan("caps", "--url", dead)
        assert status == 7
        assert err.startswith(f"pmscan: TransportError: cannot connect to {dead}: ")
        # In a process of its own: httpcore leaks the socket of a failed Unix socket connection.
        done = subprocess.run(
            [PMSCAN, "caps", "--uds", "/nonexistent/pmscan.sock"], capture_output=True, text=True, check=False
        )
        assert done.returncode == 7 and "cannot connect to unix:/nonexistent/pmscan.sock" in done.stderr

    def test_without_a_token_says_how_to_give_one(
        self, auth_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("PMSCAN_TOKEN", raising=False)
        status, _, err = pmscan("ps", "--url", auth_server.url)
        assert status == 4
        assert "Unauthenticated (HTTP 401 UNAUTHENTICATED): the node needs a token" in err
        assert "--token-file PATH" in err and "PMSCAN_TOKEN" in err
        assert "Authorization" not in err  # the server's advice is for HTTP clients
        status, _, err = pmscan("ps", "--url", auth_server.url, "--json")
        assert status == 4
        error = json.loads(err)["error"]
        assert error["type"] == "Unauthenticated" and "--token-file PATH" in error["hint"]

    def test_a_refused_token_says_whose(
        self, auth_server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("PMSCAN_TOKEN", raising=False)
        token_file = tmp_path / "token"
        token_file.write_text("pmscan_not-a-token\n")
        status, _, err = pmscan("ps", "--url", auth_server.url, "--token-file", token_file)
        assert status == 4 and f"the node refused the token of --token-file {token_file}" in err
        monkeypatch.setenv("PMSCAN_TOKEN", "pmscan_not-a-token")
        status, _, err = pmscan("ps", "--url", auth_server.url)
        assert status == 4 and "the node refused the token of PMSCAN_TOKEN" in err
        monkeypatch.setenv("PMSCAN_TOKEN", auth_server.admin_token)
        assert pmscan("ps", "--url", auth_server.url)[0] == 0

    def test_clear_soft_dirty_says_what_it_does(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit):
            main(["clear-soft-dirty", "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for words in (
            "writes 4 to /proc/PID/clear_refs",
            "write scope",
            "pmscan summary PID --soft-dirty",
            "pages written between a count and the next clear are cleared uncounted (lost)",
            "pmscan watch PID --written",
        ):
            assert words in text, words


class TestExitCodes:
    def test_not_found_usage_and_unreachable(self, server: ServerProcess, target: Target) -> None:
        child = subprocess.Popen(["true"])
        child.wait()
        status, _, err = pmscan("scan", child.pid, "--url", server.url)
        assert status == 3 and "ProcessNotFound" in err and "404" in err
        assert pmscan("scan", target.pid, "--url", server.url, "--range", "0x1001-")[0] == 2
        assert pmscan("scan", target.pid, "--url", server.url, "--range", "nonsense")[0] == 2
        assert pmscan("summary", target.pid, "--url", server.url, "--not", "presnt")[0] == 2
        assert pmscan("fleet", server.url, "bogus")[0] == 2
        assert pmscan("caps", "--url", f"http://127.0.0.1:{free_port()}")[0] == 7
        with pytest.raises(SystemExit) as usage:
            pmscan("scan", "not-a-pid")
        assert usage.value.code == 2

    def test_the_table_covers_the_documented_codes(self) -> None:
        documented = {int(line.split()[0]) for line in HELP.split("Exit codes:")[1].strip().splitlines()}
        assert set(EXIT_CODES.values()) | {0, 1, 8} == documented


def test_progress_only_on_a_terminal_and_after_a_delay() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, pipe, early = Terminal(), io.StringIO(), Terminal()
    with ScanProgress("scanning", err=terminal, delay=0) as progress:
        progress.update(10, 20, 0x1000)
    with ScanProgress("scanning", err=pipe, delay=0) as quiet:
        quiet.update(10, 20, 0x1000)
    with ScanProgress("scanning", err=early, delay=60) as waiting:
        waiting.update(10, 20, 0x1000)
    assert "scanning 10 regions, 20 pages at 0x1000" in terminal.getvalue()
    assert pipe.getvalue() == "" and early.getvalue() == ""
