"""What the built image holds: no compiler and no development package, the compiled extension, and
the configuration the Dockerfile gives it.

"Development package", as dpkg knows packages: one whose name ends in ``-dev`` (headers, static
libraries: libc6-dev, libpython3.11-dev, linux-libc-dev, ...) or a toolchain (gcc, g++, cpp,
binutils, clang, build-essential, make). gcc-12-base is neither: it holds the common files of
GCC's runtime libraries (libgcc_s, libstdc++) and is in every Debian image. Python's own
``Python.h`` may remain where the base image installs it with the interpreter (python:3.11-slim
does, under /usr/local/include): without a compiler it builds nothing.
"""

from __future__ import annotations

import json
import re
import shlex

import pytest

from tests.deploy.test_container import DOCKERFILE, parse_dockerfile
from tests.support.podman import podman

DEVELOPMENT = re.compile(r"-dev$|^(gcc|g\+\+|cpp|clang|binutils|build-essential|make)(-[0-9.]+)?$|^libclang")
COMPILERS = ("gcc", "cc", "c++", "g++", "cpp", "clang", "tcc", "ld", "as", "make")


def in_image(image: str, script: str) -> str:
    """The output of ``sh -c SCRIPT`` in a throwaway container of the image, without network."""
    return podman("run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c", script).stdout


class TestNoToolchain:
    def test_no_compiler_on_path(self, image: str) -> None:
        found = in_image(image, " ".join(f"command -v {c};" for c in COMPILERS) + " true")
        assert found.split() == []

    def test_no_development_package(self, image: str) -> None:
        packages = in_image(image, "dpkg-query --show --showformat '${Package}\\n'").split()
        assert "python3" in packages or "libc6" in packages  # the listing is real
        assert [p for p in packages if DEVELOPMENT.search(p)] == []

    def test_no_c_library_headers(self, image: str) -> None:
        assert in_image(image, "ls /usr/include/stdio.h 2>/dev/null || true").strip() == ""


class TestInstalled:
    def test_the_extensions_load(self, image: str) -> None:
        output = in_image(
            image,
            "python -c 'import app.pagemap._pagemap as a, app.pagemap._pagemapfile as b; print(a.__file__)'",
        )
        assert output.strip().endswith(".so")

    def test_no_source_tree(self, image: str) -> None:
        """The runtime stage has the installed wheels, not the build context."""
        assert in_image(image, "ls -d /src /out 2>/dev/null || true").strip() == ""


@pytest.fixture(scope="module")
def config(image: str) -> dict[str, object]:
    """The image's configuration, as podman shows it (the health check beside it, not in it)."""
    (found,) = json.loads(podman("image", "inspect", image).stdout)
    return dict(found["Config"]) | {"Healthcheck": found.get("Healthcheck")}


@pytest.fixture(scope="module")
def runtime() -> dict[str, list[str]]:
    """The Dockerfile's runtime stage: instruction -> its arguments, in order."""
    _, stages = parse_dockerfile(DOCKERFILE.read_text())
    instructions: dict[str, list[str]] = {}
    for name, args in stages[-1].instructions:
        instructions.setdefault(name, []).append(args)
    return instructions


class TestConfigIsTheDockerfiles:
    """The image's configuration is what the Dockerfile's runtime stage says (HEALTHCHECK survives
    only in the docker format: build-image.sh builds with it)."""

    def test_entrypoint_user_port(self, config: dict[str, object], runtime: dict[str, list[str]]) -> None:
        assert config["Entrypoint"] == ["pmscan-server"]
        assert runtime["ENTRYPOINT"] == ['["pmscan-server"]']
        assert config["User"] == runtime["USER"][0] == "0:0"
        assert set(config["ExposedPorts"]) == {f"{runtime['EXPOSE'][0]}/tcp"}  # type: ignore[arg-type]

    def test_environment(self, config: dict[str, object], runtime: dict[str, list[str]]) -> None:
        declared = dict(pair.split("=", 1) for line in runtime["ENV"] for pair in shlex.split(line))
        environment = dict(line.split("=", 1) for line in config["Env"])  # type: ignore[attr-defined]
        assert declared.items() <= environment.items()

    def test_health_check(self, config: dict[str, object], runtime: dict[str, list[str]]) -> None:
        check = config["Healthcheck"]
        assert isinstance(check, dict)
        assert check["Test"] == ["CMD", "python", "/opt/pmscan/healthcheck.py"]
        assert "--interval=30s" in runtime["HEALTHCHECK"][0]
        assert check["Interval"] == 30 * 10**9
