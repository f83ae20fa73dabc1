"""Authentication and authorization through real servers: every route covered, the scope matrix,
the deny list, the token file (first start, reload, CLI), auth off, and the refusal to listen
openly without authentication."""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from pydantic import ValidationError

from app.http import auth
from app.http.app import create_app
from app.http.routes.routers import ProtectedRoute, StrictQueryRoute
from app.security.tokens import (
    PREFIX,
    TokenFileError,
    TokenStore,
    add_token,
    digest,
    parse_token_file,
    read_token_file,
)
from app.server import main as server_main
from app.settings import Settings
from tests.support.server import REPO, ServerProcess, server_executable

PUBLIC = frozenset({"/healthz", "/readyz"})
WP_MATCHING = 1


def token_cli(token_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``pmscan-server token --token-file FILE ARGS``, in this process (the entry point's own
    wiring is tested once, in a subprocess, by TestTokenFile)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = server_main(["token", "--token-file", str(token_file), *args])
    return subprocess.CompletedProcess(args, status, out.getvalue(), err.getvalue())


def add(token_file: Path, name: str, scopes: str) -> str:
    done = token_cli(token_file, "add", name, "--scopes", scopes)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


class Clients:
    """One keep-alive client per (server, token): a new httpx client costs tens of milliseconds."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str | None], httpx.Client] = {}

    def call(
        self, server: ServerProcess, token: str | None, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        key = (server.url, token)
        if key not in self._open:
            headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
            self._open[key] = server.client(headers=headers)
        return self._open[key].request(method, path, **kwargs)

    def close(self) -> None:
        for client in self._open.values():
            client.close()
        self._open.clear()


_clients = Clients()


@pytest.fixture(scope="module", autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    _clients.close()


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["detail"]["code"]
    return code


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A token file made with the CLI: a read token and a write token."""
    file = tmp_path_factory.mktemp("auth") / "tokens"
    return {"file": file, "read": add(file, "reader", "read"), "write": add(file, "writer", "read,write")}


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "1000"])


@pytest.fixture(scope="module")
def victim() -> Iterator[subprocess.Popen[bytes]]:
    process = sleeper()
    yield process
    process.kill()
    process.wait()


@pytest.fixture(scope="module")
def denied() -> Iterator[subprocess.Popen[bytes]]:
    process = sleeper()
    yield process
    process.kill()
    process.wait()


@pytest.fixture(scope="module")
def server(tokens: dict[str, Any], denied: subprocess.Popen[bytes]) -> Iterator[ServerProcess]:
    with ServerProcess(token_file=tokens["file"], deny_pids=f"[{denied.pid}]") as running:
        yield running


def call(server: ServerProcess, token: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return _clients.call(server, token, method, path, **kwargs)


def routes() -> list[tuple[str, str]]:
    """(method, path) of every route the app serves."""
    app = create_app(Settings(auth="off"))
    found = [
        (method, context.path)
        for context in iter_route_contexts(app.routes)
        for method in sorted(context.methods or ())
    ]
    assert ("POST", "/scan") in found and ("GET", "/healthz") in found  # the walk sees the routers
    return found


class TestEveryRouteIsCovered:
    def test_without_a_token_every_route_but_health_answers_401(
        self, server: ServerProcess, victim: subprocess.Popen[bytes]
    ) -> None:
        for method, path in routes():
            concrete = re.sub(r"\{[^}]+\}", str(victim.pid), path)
            response = call(server, None, method, concrete)
            if path in PUBLIC:
                assert response.status_code == 200, (method, path, response.text)
                continue
            # 401 before anything else, the body unread: no 422 for a missing body either.
            assert response.status_code == 401, (method, path, response.text)
            assert error_code(response) == "UNAUTHENTICATED"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")

    def test_a_wrong_token_is_401_everywhere(self, server: ServerProcess, tokens: dict[str, Any]) -> None:
        wrong = tokens["write"][:-2] + ("AA" if not tokens["write"].endswith("AA") else "BB")
        for method, path in routes():
            if path in PUBLIC:
                continue
            response = call(server, wrong, method, re.sub(r"\{[^}]+\}", "1", path))
            assert response.status_code == 401, (method, path)
            assert error_code(response) == "UNAUTHENTICATED"

    def test_another_scheme_is_not_a_token(self, server: ServerProcess, tokens: dict[str, Any]) -> None:
        with server.client(headers={"Authorization": f"Basic {tokens['write']}"}) as http:
            assert http.get("/capabilities").status_code == 401

    def test_docs_are_disabled_and_the_openapi_document_needs_a_token(
        self, server: ServerProcess, tokens: dict[str, Any]
    ) -> None:
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            assert call(server, tokens["read"], "GET", path).status_code == 404
        assert call(server, None, "GET", "/openapi.json").status_code == 401
        document = call(server, tokens["read"], "GET", "/openapi.json").json()
        assert "/scan" in document["paths"]

    def test_every_route_checks_its_query_and_every_protected_one_authenticates_first(self) -> None:
        """By construction: the app's routes are flat (no included router), each of the class its
        router gave it (``app.http.routes.routers``): every route checks its query string, every
        one but /healthz and /readyz then authenticates, before its dependencies read anything."""
        app = create_app(Settings(auth="off"))
        for route in app.routes:
            assert isinstance(route, StrictQueryRoute), f"{route!r}: an included router, or unchecked"
            path = getattr(route, "path", "")
            assert isinstance(route, ProtectedRoute) is (path not in PUBLIC), path

    def test_every_route_naming_a_process_checks_it(self) -> None:
        """By construction: a route with a ``pid`` (path or body) depends on the per-process rule
        that the domain applies to the process it opens."""
        app = create_app(Settings(auth="off"))
        naming = 0
        for context in iter_route_contexts(app.routes):
            checked, names_pid = False, False
            pending = [context.dependant]
            while pending:
                dependant = pending.pop()
                pending.extend(dependant.dependencies)
                names_pid |= any(p.name == "pid" for p in dependant.path_params)
                assert not dependant.body_params, "bodies are read by the authorizing dependency only"
                # The body dependencies (app.http.auth._authorized) read the body and authorize it.
                body_model = getattr(dependant.call, "body_model", None)
                names_pid |= "pid" in getattr(body_model, "model_fields", {})
                checked |= dependant.call is auth._target_rule or body_model is not None
            if names_pid:
                naming += 1
                assert checked, f"{context.path} names a process but does not authorize it"
        assert naming >= 4


class TestOpenAPI:
    def test_the_bearer_scheme_is_declared_on_every_protected_operation(self) -> None:
        document = create_app(Settings(auth="off")).openapi()
        scheme = document["components"]["securitySchemes"]["bearer"]
        assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
        for path, operations in document["paths"].items():
            for operation in operations.values():
                expected = [] if path in PUBLIC else [{"bearer": []}]  # public: said explicitly
                assert operation.get("security") == expected, path


Case = tuple[str, str, dict[str, Any] | None]


def request_for(case: Case, pid: int) -> tuple[str, str, dict[str, Any] | None]:
    method, path, body = case
    return method, path.format(pid=pid), None if body is None else {"pid": pid, **body}


class TestScopes:
    @pytest.mark.parametrize(
        "case",
        [
            ("POST", "/scan", {"flags": ["WP_MATCHING"], "vec_len": 0}),
            ("POST", "/scan", {"flags": WP_MATCHING}),
            ("POST", "/summary", {"flags": ["WP_MATCHING", "CHECK_WPASYNC"]}),
            ("POST", "/watch", {"flags": ["WP_MATCHING"], "interval_seconds": 1, "count": 1}),
            ("POST", "/processes/{pid}/clear-soft-dirty", None),
        ],
    )
    def test_a_read_token_cannot_write(
        self, server: ServerProcess, tokens: dict[str, Any], victim: subprocess.Popen[bytes], case: Case
    ) -> None:
        method, path, body = request_for(case, victim.pid)
        response = call(server, tokens["read"], method, path, json=body)
        assert response.status_code == 403, response.text
        assert error_code(response) == "SCOPE"
        assert "write" in response.json()["detail"]["message"]

    @pytest.mark.parametrize(
        ("case", "status"),
        [
            (("POST", "/scan", {"flags": ["WP_MATCHING"]}), 200),
            (("POST", "/scan", {"flags": ["WP_MATCHING"], "vec_len": 0}), 200),
            (("POST", "/summary", {"flags": WP_MATCHING}), 200),
            (("POST", "/watch", {"flags": WP_MATCHING, "interval_seconds": 0.01, "count": 2}), 200),
            (("POST", "/processes/{pid}/clear-soft-dirty", None), 204),
        ],
    )
    def test_a_write_token_can(
        self,
        server: ServerProcess,
        tokens: dict[str, Any],
        victim: subprocess.Popen[bytes],
        case: Case,
        status: int,
    ) -> None:
        method, path, body = request_for(case, victim.pid)
        response = call(server, tokens["write"], method, path, json=body)
        assert response.status_code == status, response.text

    @pytest.mark.parametrize(
        "case",
        [
            ("POST", "/scan", {}),
            ("POST", "/summary", {"by_vma": True}),
            ("GET", "/processes/{pid}/maps", None),
            ("GET", "/processes", None),
            ("GET", "/capabilities", None),
        ],
    )
    def test_a_read_token_reads(
        self, server: ServerProcess, tokens: dict[str, Any], victim: subprocess.Popen[bytes], case: Case
    ) -> None:
        method, path, body = request_for(case, victim.pid)
        response = call(server, tokens["read"], method, path, json=body)
        assert response.status_code == 200, response.text

    def test_an_invalid_body_is_still_422_for_a_valid_token(
        self, server: ServerProcess, tokens: dict[str, Any]
    ) -> None:
        response = call(server, tokens["read"], "POST", "/scan", json={"pid": 1, "flags": ["NOPE"]})
        assert response.status_code == 422


class TestDenyList:
    def test_pmscan_itself_is_denied(self, server: ServerProcess, tokens: dict[str, Any]) -> None:
        for method, path, body in (
            ("GET", f"/processes/{server.pid}/maps", None),
            ("POST", "/scan", {"pid": server.pid}),
            ("POST", "/summary", {"pid": server.pid}),
            ("POST", f"/processes/{server.pid}/clear-soft-dirty", None),
        ):
            response = call(server, tokens["write"], method, path, json=body)
            assert response.status_code == 403, (path, response.text)
            assert error_code(response) == "DENIED"

    def test_a_thread_of_pmscan_is_denied_too(self, server: ServerProcess, tokens: dict[str, Any]) -> None:
        threads = [int(t) for t in os.listdir(f"/proc/{server.pid}/task") if int(t) != server.pid]
        assert threads, "uvicorn with a scan pool runs more than one thread"
        response = call(server, tokens["write"], "POST", "/scan", json={"pid": threads[0]})
        # Refused before anything of it is read: a thread id is not a process (pidfd_open).
        assert response.status_code == 404
        assert "is a thread" in response.json()["detail"]["message"]

    def test_a_configured_pid_is_denied(
        self, server: ServerProcess, tokens: dict[str, Any], denied: subprocess.Popen[bytes]
    ) -> None:
        response = call(server, tokens["write"], "GET", f"/processes/{denied.pid}/maps")
        assert response.status_code == 403
        assert error_code(response) == "DENIED"

    def test_an_unknown_process_is_still_404(self, server: ServerProcess, tokens: dict[str, Any]) -> None:
        response = call(server, tokens["read"], "POST", "/scan", json={"pid": (1 << 31) - 1})
        assert response.status_code == 404

    def test_a_kernel_thread_is_404(self, server: ServerProcess, tokens: dict[str, Any]) -> None:
        kthreads = [p for p in _pids() if _is_kernel_thread(p)]
        if not kthreads:
            pytest.skip("no kernel thread is visible in this pid namespace")
        response = call(server, tokens["read"], "POST", "/scan", json={"pid": kthreads[0]})
        assert response.status_code == 404


def _pids() -> list[int]:
    return sorted(int(name) for name in os.listdir("/proc") if name.isdigit())


def _is_kernel_thread(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return bool(int(f.read().rpartition(")")[2].split()[6]) & 0x00200000)
    except OSError:
        return False


class TestTokenFile:
    def test_it_holds_hashes_only(self, tokens: dict[str, Any]) -> None:
        text = tokens["file"].read_text()
        assert tokens["read"] not in text and tokens["write"] not in text
        assert tokens["read"].startswith(PREFIX) and len(tokens["read"]) == len(PREFIX) + 43
        assert f"sha256:{digest(tokens['read']).hex()}" in text
        assert stat.S_IMODE(tokens["file"].stat().st_mode) == 0o600

    def test_the_cli_lists_names_and_scopes_only(self, tokens: dict[str, Any]) -> None:
        listed = token_cli(tokens["file"], "list")
        assert listed.returncode == 0
        assert listed.stdout.splitlines()[:2] == ["reader\tread", "writer\tread,write"]
        assert "sha256" not in listed.stdout

    def test_the_entry_point_runs_the_token_command(self, tmp_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PMSCAN_")}
        env["PMSCAN_TOKEN_FILE"] = str(tmp_path / "dir" / "tokens")
        added = subprocess.run(
            [str(server_executable()), "token", "add", "ci", "--scopes", "read"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        token = added.stdout.strip()
        assert token.startswith(PREFIX) and "shown only this once" in added.stderr
        assert stat.S_IMODE((tmp_path / "dir").stat().st_mode) == 0o700
        entries, _ = read_token_file(tmp_path / "dir" / "tokens")
        assert [(e.name, e.scopes, e.sha256) for e in entries] == [("ci", {"read"}, digest(token))]

    def test_the_cli_refuses_a_duplicate_name_and_an_unknown_scope(self, tokens: dict[str, Any]) -> None:
        assert token_cli(tokens["file"], "add", "reader", "--scopes", "read").returncode == 1
        refused = token_cli(tokens["file"], "add", "other", "--scopes", "read,admin")
        assert refused.returncode == 1 and "unknown scope admin" in refused.stderr

    def test_a_change_takes_effect_without_a_restart(
        self, server: ServerProcess, tokens: dict[str, Any]
    ) -> None:
        late = add(tokens["file"], "late", "read")
        assert call(server, late, "GET", "/capabilities").status_code == 200
        assert token_cli(tokens["file"], "remove", "late").returncode == 0
        assert call(server, late, "GET", "/capabilities").status_code == 401
        assert call(server, tokens["read"], "GET", "/capabilities").status_code == 200

    def test_a_bad_line_grants_nothing_and_the_rest_still_works(self) -> None:
        good = "a read sha256:" + "0" * 64
        entries, problems = parse_token_file(
            "\n".join(
                [
                    "# comment",
                    good + "  # trailing comment",
                    "b read,wirte sha256:" + "1" * 64,
                    "c read md5:abc",
                    "a write sha256:" + "2" * 64,
                    "d read",
                ]
            )
        )
        assert [e.name for e in entries] == ["a"]
        assert entries[0].scopes == {"read"}
        assert [p.split(":")[0] for p in problems] == ["line 3", "line 4", "line 5", "line 6"]

    def test_a_file_others_may_write_is_refused(self, tmp_path: Path) -> None:
        file = tmp_path / "tokens"
        token = add_token(file, "x", ["read"])
        store = TokenStore(file)
        assert store.verify(token) is not None
        file.chmod(0o666)
        with pytest.raises(TokenFileError, match="writable by others"):
            read_token_file(file)
        assert store.verify(token) is None  # the change is noticed: the file grants nothing now

    def test_a_missing_file_grants_nothing(self, tmp_path: Path) -> None:
        assert TokenStore(tmp_path / "absent").verify(PREFIX + "x") is None


class TestFirstStart:
    def test_an_admin_token_is_generated_root_only_and_its_path_logged(self, tmp_path: Path) -> None:
        token_file = tmp_path / "state" / "pmscan" / "tokens"
        with subprocess.Popen(["sleep", "1000"]) as victim, ServerProcess(token_file=token_file) as server:
            try:
                admin_file = token_file.with_name("tokens.admin")
                assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
                assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
                assert stat.S_IMODE(admin_file.stat().st_mode) == 0o600
                token = server.admin_token
                assert token not in token_file.read_text()
                assert str(admin_file) in server.log() and token not in server.log()
                # Both scopes: a write-protecting scan works.
                body = {"pid": victim.pid, "flags": ["WP_MATCHING"]}
                assert call(server, token, "POST", "/scan", json=body).status_code == 200
                assert call(server, None, "GET", "/capabilities").status_code == 401
            finally:
                victim.kill()

    def test_an_existing_file_is_left_alone(self, tokens: dict[str, Any], server: ServerProcess) -> None:
        assert not tokens["file"].with_name("tokens.admin").exists()


class TestAuthOff:
    def test_everything_is_allowed_and_a_warning_is_logged(self, victim: subprocess.Popen[bytes]) -> None:
        with ServerProcess(auth="off") as server:
            with server.client() as http:
                assert http.get("/capabilities").status_code == 200
                body = {"pid": victim.pid, "flags": ["WP_MATCHING"]}
                assert http.post("/scan", json=body).status_code == 200
                # The deny list is not authentication: pmscan still refuses itself.
                assert http.post("/scan", json={"pid": server.pid}).status_code == 403
            assert "PMSCAN_AUTH=off" in server.log()


class TestListening:
    def test_an_open_address_without_auth_is_refused(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PMSCAN_")}
        env.update(PMSCAN_HOST="0.0.0.0", PMSCAN_AUTH="off", PMSCAN_PORT="1")
        done = subprocess.run(
            [str(server_executable())],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            cwd=REPO,
            check=False,
        )
        assert done.returncode != 0
        assert "refusing to listen on 0.0.0.0 without authentication" in done.stderr

    def test_an_open_address_with_auth_starts(self, tokens: dict[str, Any]) -> None:
        with ServerProcess(host="0.0.0.0", token_file=tokens["file"]) as server:
            assert call(server, None, "GET", "/capabilities").status_code == 401
            assert call(server, tokens["read"], "GET", "/capabilities").status_code == 200

    def test_settings_refuse_peer_auth_without_a_socket(self) -> None:
        with pytest.raises(ValidationError, match="PMSCAN_UDS_PEER_AUTH=on needs PMSCAN_UDS"):
            Settings(uds_peer_auth="on")

    @pytest.mark.parametrize("host", ["::1", "localhost", "127.0.0.2"])
    def test_loopback_without_auth_is_allowed(self, host: str) -> None:
        assert Settings(host=host, auth="off").auth == "off"
