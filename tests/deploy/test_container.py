"""deploy/container: the Dockerfile, its build steps and its health check, without a container engine.

The image itself is built and run by tests/image (`make test-image`, with podman). Here the Dockerfile
is parsed and checked; its build and install steps live in build-steps.sh, which the slow test runs as
the image would (build the wheels from a copy of the repository, install them into a fresh environment
with no index and no compiler), then starts the installed server under the kernel's write-xor-execute
rule and asks it with the image's health check.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import venv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy import _sandbox
from tests.deploy._expected import AGENT_UID, CAPABILITIES, DEPLOY, PORT, REPO
from tests.deploy._unit import ambient_capabilities, service_section

CONTAINER = DEPLOY / "container"
DOCKERFILE = CONTAINER / "Dockerfile"
BUILD_STEPS = CONTAINER / "build-steps.sh"
HEALTHCHECK = CONTAINER / "healthcheck.py"
IGNORE = CONTAINER / "Dockerfile.dockerignore"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """The global ARG defaults and the stages of a Dockerfile: instructions with continuation lines
    joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        args = args.strip()
        if instruction == "FROM":
            words = args.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: arguments.get(m.group(1), m.group(0)), words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages:
            assert instruction == "ARG", f"{instruction} before the first FROM"
            key, _, value = args.partition("=")
            arguments[key] = value
        else:
            stages[-1].instructions.append((instruction, args))
    return arguments, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())[1]


COMPILERS = re.compile(r"\b(gcc|g\+\+|clang|cc|build-essential|make|python3?-dev|libc6-dev)\b")


class TestDockerfile:
    def test_builds_in_one_stage_and_runs_from_another_on_the_same_python(self, stages: list[Stage]) -> None:
        builder, runtime = stages
        assert builder.name == "builder"
        assert builder.base == runtime.base == "python:3.11-slim"

    def test_builder_builds_the_wheels_and_installs_them_under_staging(self, stages: list[Stage]) -> None:
        runs = stages[0].args("RUN")
        assert any(COMPILERS.search(run) for run in runs), "the builder installs no compiler"
        steps = [step.strip() for step in runs[-1].split("&&")]
        assert steps[:2] == [
            "sh deploy/container/build-steps.sh build /src /out",
            "sh deploy/container/build-steps.sh install /out /staging",
        ]

    def test_runtime_copies_the_installed_tree_and_runs_nothing(self, stages: list[Stage]) -> None:
        """No RUN at all: nothing is installed or compiled in the runtime stage, and no package
        manager runs there. (Why a copy and not an install from bind-mounted wheels: the
        Dockerfile says, podman's cache.)"""
        runtime = stages[-1]
        assert runs_of(runtime) == []
        assert "--from=builder /staging/ /" in runtime.args("COPY")

    def test_runtime_health_check_uses_python(self, stages: list[Stage]) -> None:
        (check,) = stages[-1].args("HEALTHCHECK")
        assert '"python", "/opt/pmscan/healthcheck.py"' in check
        copies = " ".join(stages[-1].args("COPY"))
        assert "deploy/container/healthcheck.py" in copies
        assert "/healthz" in HEALTHCHECK.read_text()

    def test_runtime_listens_on_all_addresses_with_auth(self, stages: list[Stage]) -> None:
        environment = dict(
            pair.split("=", 1) for line in stages[-1].args("ENV") for pair in shlex.split(line)
        )
        assert environment["PMSCAN_HOST"] == "0.0.0.0"
        assert environment["PMSCAN_PORT"] == str(PORT)
        assert environment.get("PMSCAN_AUTH", "on") == "on"
        assert stages[-1].args("EXPOSE") == [str(PORT)]
        assert stages[-1].args("ENTRYPOINT") == ['["pmscan-server"]']

    def test_user_is_root_and_the_capabilities_are_documented(self, stages: list[Stage]) -> None:
        assert stages[-1].args("USER") == ["0:0"]
        text = DOCKERFILE.read_text()
        for capability in CAPABILITIES:
            assert capability in text

    def test_ignore_file_keeps_git_and_build_output_out(self) -> None:
        patterns = IGNORE.read_text().split()
        assert {".git", ".venv/", ".venv-dev/", "build/", "dist/"} <= set(patterns)


def runs_of(stage: Stage) -> list[str]:
    return stage.args("RUN")


class TestBuildSteps:
    def test_wheel_command_is_the_makefiles(self) -> None:
        makefile = REPO / "Makefile"
        if not makefile.exists():
            pytest.skip("the repository has no Makefile yet")
        match = re.search(r"(?m)^wheel:.*\n((?:\t.*\n)+)", makefile.read_text())
        if match is None:
            pytest.skip("the Makefile has no wheel target yet")
        (recipe,) = [line.strip() for line in match.group(1).splitlines() if "pip wheel" in line]
        make_words = shlex.split(recipe)
        script = [
            line
            for line in BUILD_STEPS.read_text().splitlines()
            if "pip wheel" in line and "--no-deps" in line
        ]
        (script_line,) = script
        script_words = shlex.split(script_line.strip().split("&& ", 1)[1].rstrip(")"))

        def normalized(words: list[str]) -> list[str]:
            # The interpreter and the output directory differ by design; the rest must not.
            start = words.index("-m")
            rest = words[start:]
            i = rest.index("-w")
            return rest[:i] + rest[i + 2 :]

        assert normalized(make_words) == normalized(script_words)

    def test_refuses_unknown_steps(self) -> None:
        result = subprocess.run(["sh", str(BUILD_STEPS), "frobnicate"], capture_output=True, check=False)
        assert result.returncode == 2


# ---- the health check -----------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _UnixHTTPServer(socketserver.UnixStreamServer):
    def get_request(self):  # type: ignore[no-untyped-def]
        request, _ = super().get_request()
        return request, ("local", 0)


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run_healthcheck(environ: dict[str, str]) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMSCAN_")} | environ
    return subprocess.run([sys.executable, str(HEALTHCHECK)], env=env, check=False, timeout=30).returncode


def handler(status: int) -> type[_Handler]:
    return type("Handler", (_Handler,), {"status": status})


class TestHealthcheck:
    @pytest.mark.parametrize(("status", "exit_code"), [(200, 0), (503, 1)])
    def test_http(self, status: int, exit_code: int) -> None:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler(status))
        with serving(server):
            assert run_healthcheck({"PMSCAN_PORT": str(server.server_address[1])}) == exit_code

    def test_nothing_listening(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        assert run_healthcheck({"PMSCAN_PORT": str(port)}) == 1

    def test_https_when_the_server_has_a_certificate(self, tmp_path: Path) -> None:
        if shutil.which("openssl") is None:
            pytest.skip("openssl is not installed (needed to make a certificate)")
        cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=pmscan",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler(200))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        port = str(server.server_address[1])
        with serving(server):
            assert run_healthcheck({"PMSCAN_PORT": port, "PMSCAN_TLS_CERT": str(cert)}) == 0
            assert run_healthcheck({"PMSCAN_PORT": port}) == 1  # plain HTTP to a TLS server

    def test_unix_socket(self, tmp_path: Path) -> None:
        path = tmp_path / "pmscan.sock"
        server = _UnixHTTPServer(str(path), handler(200))
        with serving(server):
            assert run_healthcheck({"PMSCAN_UDS": str(path)}) == 0


# ---- the image's build and install steps, without an engine ---------------------------------------


def copy_of_repository(destination: Path) -> Path:
    """The build context as Docker would send it: the repository less what the ignore file names."""
    names = [p.removeprefix("**/").rstrip("/") for p in IGNORE.read_text().split() if not p.startswith("#")]
    shutil.copytree(REPO, destination, ignore=shutil.ignore_patterns(*names))
    return destination


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="class")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (REPO / "pyproject.toml").exists():
        pytest.skip("the repository has no pyproject.toml yet")
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (the build step needs it)")
    root = tmp_path_factory.mktemp("image")
    source = copy_of_repository(root / "src")
    out = root / "out"
    subprocess.run(["sh", str(BUILD_STEPS), "build", str(source), str(out)], check=True)
    assert len(list((out / "dist").glob("*.whl"))) == 1

    environment = root / "venv"
    venv.EnvBuilder(with_pip=True).create(environment)
    bare = {"PATH": str(environment / "bin"), "HOME": str(root), "CC": "/bin/false"}
    subprocess.run(
        ["/bin/sh", str(BUILD_STEPS), "install", str(out)],
        env=bare | {"PYTHON": str(environment / "bin" / "python")},
        check=True,
    )
    return environment


@pytest.mark.slow
class TestImageSteps:
    """build-steps.sh, run here as the Dockerfile runs it: `build` with a compiler on PATH, `install`
    into a fresh environment with nothing but that environment on PATH."""

    def test_wheel_has_the_compiled_extension(self, installed: Path) -> None:
        extensions = list((installed / "lib").glob("python3*/site-packages/app/pagemap/_pagemap*.so"))
        assert extensions, "the installed wheel carries no compiled extension"

    def test_server_help(self, installed: Path) -> None:
        server = installed / "bin" / "pmscan-server"
        if not server.exists():
            pytest.skip("the wheel installs no pmscan-server console script yet")
        result = subprocess.run(
            [str(server), "--help"],
            env={"PATH": str(installed / "bin")},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert "usage" in result.stdout.lower()

    def test_server_serves_probes_under_mdwe(self, installed: Path, tmp_path: Path) -> None:
        """MemoryDenyWriteExecute=, as the kernel enforces it, with the server's whole stack loaded."""
        with running_server(installed, tmp_path, wrap=_sandbox.under_mdwe) as (url, _):
            for path in ("/healthz", "/readyz"):
                with urllib.request.urlopen(url + path, timeout=10) as response:
                    assert response.status == 200

    @pytest.mark.root
    def test_server_as_the_unit_runs_it_reads_another_users_process(
        self, installed: Path, tmp_path: Path, other_users_process: subprocess.Popen[bytes]
    ) -> None:
        """The unit's non-root user, its ambient capabilities, no_new_privs, MDWE and its system call
        filter, together: the installed server summarizes and clears the soft-dirty bits of another
        user's process."""
        if os.geteuid() != 0:
            pytest.skip("needs root to switch users and grant capabilities")
        if not _sandbox.seccomp_available():
            pytest.skip("libseccomp or systemd-analyze is not installed (the system call filter)")
        allowed = _sandbox.system_call_filter(service_section()["SystemCallFilter"])

        def as_the_unit(argv: list[str]) -> list[str]:
            return _sandbox.setpriv_argv(
                AGENT_UID, ambient_capabilities(), _sandbox.under_mdwe(_sandbox.under_seccomp(allowed, argv))
            )

        with running_server(installed, tmp_path, wrap=as_the_unit) as (url, server_pid):
            status_lines = Path(f"/proc/{server_pid}/status").read_text().splitlines()
            fields = dict(line.split(":", 1) for line in status_lines)
            assert fields["Uid"].split() == [str(AGENT_UID)] * 4
            assert int(fields["CapEff"], 16) == capability_mask(ambient_capabilities())
            assert fields["NoNewPrivs"].strip() == "1"
            assert fields["Seccomp"].strip() == "2"  # a filter is in force
            with urllib.request.urlopen(url + "/openapi.json", timeout=10) as response:
                paths = json.load(response)["paths"]
            if "/summary" not in paths:
                pytest.skip("the server has no POST /summary yet")
            pid = other_users_process.pid
            status, body = post(url + "/summary", {"pid": pid})
            assert status == 200, body
            assert json.loads(body)["pid"] == pid
            clear = f"/processes/{pid}/clear-soft-dirty"
            if "/processes/{pid}/clear-soft-dirty" in paths:
                status, body = post(url + clear, None)
                assert 200 <= status < 300, body


# Bit numbers from include/uapi/linux/capability.h.
_CAPABILITY_BITS = {"CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_SYS_PTRACE": 19}


def capability_mask(capabilities: frozenset[str]) -> int:
    return sum(1 << _CAPABILITY_BITS[c] for c in capabilities)


def post(url: str, document: object) -> tuple[int, str]:
    data = json.dumps(document).encode() if document is not None else b""
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read().decode()


@contextmanager
def running_server(
    installed: Path, tmp_path: Path, wrap: Callable[[list[str]], list[str]]
) -> Iterator[tuple[str, int]]:
    """The installed pmscan-server, started through `wrap` (which must exec it in place), on a free
    loopback port with auth off; yields its base URL and pid once /healthz answers (asked with the
    image's health check)."""
    server = installed / "bin" / "pmscan-server"
    if not server.exists():
        pytest.skip("the wheel installs no pmscan-server console script yet")
    if not _sandbox.mdwe_supported():
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    port = free_port()
    settings = {
        "PMSCAN_HOST": "127.0.0.1",
        "PMSCAN_PORT": str(port),
        "PMSCAN_AUTH": "off",
        "PMSCAN_TOKEN_FILE": str(tmp_path / "tokens"),
        "PMSCAN_AUDIT_LOG": "-",
    }
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            wrap([str(server)]),
            env={"PATH": str(installed / "bin"), "HOME": str(tmp_path)} | settings,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while run_healthcheck(settings) != 0:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
            yield f"http://127.0.0.1:{port}", process.pid
        finally:
            process.terminate()
            process.wait(timeout=30)
