"""Fixtures of the SDK and CLI tests: real servers (tests/support/server.py), auth off, over
TCP and over a Unix socket, and a target process with a known layout."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pmscan_client import Client

from tests.support.server import ServerProcess
from tests.support.target import Area, Target

#: Pages of the patterned area: every other page read (the zero page: PRESENT|PFNZERO, no memory),
#: so a plain scan of it returns about one region per page.
PATTERN_PAGES = 4096


@pytest.fixture(scope="package")
def server() -> Iterator[ServerProcess]:
    with ServerProcess(auth="off") as running:
        yield running


@pytest.fixture(scope="package")
def uds_server() -> Iterator[ServerProcess]:
    with (
        tempfile.TemporaryDirectory(prefix="pmscan-uds-") as directory,
        ServerProcess(auth="off", uds=Path(directory) / "pmscan.sock") as running,
    ):
        yield running


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with Client(server.url) as node:
        yield node


@pytest.fixture
def patterned(target: Target) -> Area:
    """An area of ``target`` whose scan has many small regions (and that costs no memory)."""
    area = target.anon("pattern", PATTERN_PAGES)
    target.read(area, 0, PATTERN_PAGES // 2, 2)
    target.write(area, 1, 8, 64)
    return area
