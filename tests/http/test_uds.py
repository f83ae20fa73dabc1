"""The Unix socket: its permissions, and peer-credential authorization with real clients of other
uids (``PMSCAN_UDS_PEER_AUTH=on``: root may scan everything, another uid only its own processes)."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.pagemap.policy import parse_status
from tests.support.server import ServerProcess
from tests.support.users import NOBODY, OTHER, as_user, running_as_root, shared_directory, sleeper

needs_root = pytest.mark.skipif(not running_as_root(), reason="needs root to run clients as other users")

# A client with the standard library only (any user's python3 runs it): makes the requests in
# argv[2] (JSON: [method, path, body]; "SELF" stands for its own pid) over the socket argv[1] and
# prints [[status, code], ...] (code: the error code, or null).
CLIENT = r"""
import http.client, json, os, socket, sys

class Connection(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sys.argv[1])

results = []
me = str(os.getpid())
for method, path, body in json.loads(sys.argv[2].replace('"SELF"', me).replace("SELF", me)):
    connection = Connection("pmscan")
    payload = None if body is None else json.dumps(body)
    connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    text = response.read()
    code = None
    if response.status >= 400:
        code = json.loads(text)["detail"]["code"]
    results.append([response.status, code])
    connection.close()
print(json.dumps(results))
"""


def run_client(uid: int, sock: Path, requests: list[tuple[str, str, Any]]) -> list[list[Any]]:
    """The requests made by a client process of ``uid`` (without capabilities, without a token)."""
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    done = subprocess.run(
        [*as_user(uid), python, "-c", CLIENT, str(sock), json.dumps(requests)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[list[Any]] = json.loads(done.stdout)
    return results


@pytest.fixture(scope="module")
def shared() -> Iterator[Path]:
    with shared_directory() as path:
        yield path


@pytest.fixture(scope="module")
def peer_server(shared: Path) -> Iterator[ServerProcess]:
    with ServerProcess(uds=shared / "pmscan.sock", uds_group=str(NOBODY), uds_peer_auth="on") as running:
        yield running


@pytest.fixture(scope="module")
def processes() -> Iterator[dict[str, int]]:
    """A sleeper of root, one of nobody, one of yet another user."""
    with sleeper() as root, sleeper(NOBODY) as nobody, sleeper(OTHER) as other:
        yield {"root": root.pid, "nobody": nobody.pid, "other": other.pid}


@pytest.mark.root
@needs_root
class TestTheSocket:
    def test_it_is_0660_of_the_configured_group(self, peer_server: ServerProcess) -> None:
        assert peer_server.uds is not None
        st = peer_server.uds.lstat()
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o660
        assert (st.st_uid, st.st_gid) == (0, NOBODY)

    def test_a_stale_socket_is_replaced_and_the_file_removed_at_exit(self, shared: Path) -> None:
        path = shared / "stale.sock"
        with socket.socket(socket.AF_UNIX) as dead:
            dead.bind(str(path))  # bound, never listening: what a killed server leaves behind
        with ServerProcess(uds=path, auth="off") as server, server.client() as http:
            assert http.get("/healthz").status_code == 200
        assert not path.exists()


@pytest.mark.root
@needs_root
class TestPeerCredentials:
    def test_root_needs_no_token_and_may_scan_anyone(
        self, peer_server: ServerProcess, processes: dict[str, int]
    ) -> None:
        with peer_server.client() as http:
            assert http.get("/capabilities").status_code == 200
            assert http.post("/scan", json={"pid": processes["other"]}).status_code == 200
            body = {"pid": processes["nobody"], "flags": ["WP_MATCHING"]}
            assert http.post("/scan", json=body).status_code == 200
            assert http.post("/scan", json={"pid": peer_server.pid}).status_code == 403  # still itself

    def test_a_presented_token_is_checked_not_the_peer(self, peer_server: ServerProcess) -> None:
        with peer_server.client(headers={"Authorization": "Bearer pmscan_wrong"}) as http:
            assert http.get("/capabilities").status_code == 401
        with peer_server.client(headers={"Authorization": f"Bearer {peer_server.admin_token}"}) as http:
            assert http.get("/capabilities").status_code == 200

    def test_another_uid_may_scan_its_own_processes_only(
        self, peer_server: ServerProcess, processes: dict[str, int]
    ) -> None:
        assert peer_server.uds is not None
        root, nobody, other = processes["root"], processes["nobody"], processes["other"]
        requests: list[tuple[str, str, Any]] = [
            ("POST", "/scan", {"pid": "SELF"}),
            ("POST", "/summary", {"pid": "SELF", "flags": ["WP_MATCHING"]}),
            ("POST", "/processes/SELF/clear-soft-dirty", None),
            ("GET", f"/processes/{nobody}/maps", None),
            ("GET", "/capabilities", None),
            ("POST", "/scan", {"pid": root}),
            ("POST", "/scan", {"pid": other}),
            ("GET", f"/processes/{other}/maps", None),
            ("POST", f"/processes/{root}/clear-soft-dirty", None),
            ("POST", "/scan", {"pid": 1}),
            ("POST", "/scan", {"pid": peer_server.pid}),
        ]
        assert run_client(NOBODY, peer_server.uds, requests) == [
            [200, None],
            [200, None],
            [204, None],
            [200, None],
            [200, None],
            [403, "NOT_OWNER"],
            [403, "NOT_OWNER"],
            [403, "NOT_OWNER"],
            [403, "NOT_OWNER"],
            [403, "NOT_OWNER"],
            [403, "DENIED"],
        ]


@pytest.fixture(scope="class")
def server(shared: Path) -> Iterator[ServerProcess]:
    with ServerProcess(uds=shared / "plain.sock") as running:
        yield running


@pytest.mark.root
@needs_root
class TestWithoutPeerAuth:
    def test_the_socket_is_root_only_without_a_group(self, server: ServerProcess) -> None:
        assert server.uds is not None
        st = server.uds.lstat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o660, 0, 0)
        done = subprocess.run(
            [
                *as_user(NOBODY),
                "/usr/bin/python3",
                "-c",
                f"import socket; socket.socket(socket.AF_UNIX).connect({str(server.uds)!r})",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode != 0 and "PermissionError" in done.stderr

    def test_root_needs_a_token(self, server: ServerProcess) -> None:
        with server.client() as http:
            assert http.get("/capabilities").status_code == 401
        with server.client(headers={"Authorization": f"Bearer {server.admin_token}"}) as http:
            assert http.get("/capabilities").status_code == 200


class TestOwnership:
    """What "its own process" means for a peer, on ``/proc/PID/status`` texts."""

    @staticmethod
    def status(uids: str, cap_permitted: str = "0000000000000000") -> str:
        return f"Name:\tx\nTgid:\t42\nPid:\t43\nUid:\t{uids}\nGid:\t0\t0\t0\t0\nCapPrm:\t{cap_permitted}\n"

    def test_every_uid_the_peers_and_dumpable(self) -> None:
        assert parse_status(43, 1000, self.status("1000\t1000\t1000\t1000")).owned_by(1000)

    @pytest.mark.parametrize(
        ("owner", "uids", "caps"),
        [
            (0, "1000\t1000\t1000\t1000", "0000000000000000"),  # not dumpable: /proc/PID is root's
            (1000, "1000\t0\t1000\t1000", "0000000000000000"),  # a set-uid program
            (1000, "1000\t1000\t0\t1000", "0000000000000000"),  # root kept as saved uid
            (1000, "1000\t1000\t1000\t1000", "0000000000080000"),  # holds CAP_SYS_PTRACE
        ],
    )
    def test_anything_more_is_not_the_peers(self, owner: int, uids: str, caps: str) -> None:
        assert not parse_status(43, owner, self.status(uids, caps)).owned_by(1000)

    def test_a_thread_names_its_process(self) -> None:
        assert parse_status(43, 1000, self.status("1000\t1000\t1000\t1000")).tgid == 42
