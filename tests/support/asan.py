"""The C extensions' tests under AddressSanitizer and UndefinedBehaviorSanitizer (``make asan``).

Builds ``_pagemap`` and ``_pagemapfile`` (from the sources pyproject.toml lists for each) with
``-fsanitize=address,undefined`` into a copy of the tree under ``build/asan`` (the developer's
in-place build is left alone), then runs the tests of the C layer there with gcc's ASan runtime
preloaded into the interpreter and ``PYTHONMALLOC=malloc``, so that every Python object and every
``bytes`` buffer the extensions write into is an allocation ASan guards: an overrun by one byte
stops the run with a report.

Leaks are not LeakSanitizer's job here (CPython frees little at exit, and every such block would
be reported): tests/pagemap/test_extension.py ``TestNoLeaksOnAnyPath`` counts them, and runs
under ASan too. Valgrind is no alternative: it does not know ``PAGEMAP_SCAN`` nor
``PROCMAP_QUERY``, so every record the kernel writes would read as uninitialised.

Run: ``make asan`` or ``.venv-dev/bin/python -m tests.support.asan [PYTEST ARGS]`` (the tests of
``tests/pagemap``, and those of the exporter's counter, which drives ``count_scan``, unless an
argument names tests). Needs gcc and its ``libasan`` (Debian:
``libasan8``, a dependency of ``gcc``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build" / "asan"
FLAGS = (
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=undefined",
    "-fno-omit-frame-pointer",
    "-g",
    "-O1",
    "-std=gnu11",
    "-Wall",
    "-Wextra",
    "-Werror",
)
DEFAULT_TESTS = ["tests/pagemap", "tests/export/test_counter.py"]


def _copy_tree() -> None:
    if BUILD.exists():
        shutil.rmtree(BUILD)
    ignore = shutil.ignore_patterns("*.so", "__pycache__", ".hypothesis")
    for name in ("app", "tests"):
        shutil.copytree(REPO / name, BUILD / name, ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", BUILD / "pyproject.toml")
    (BUILD / "sitecustomize.py").write_text(_SITECUSTOMIZE)


#: Imported at the interpreter's start (``sitecustomize`` on PYTHONPATH): the ASan runtime is
#: loaded by then, and the processes the tests start (targets, ``sleep``) must not load it too,
#: or their scans would walk its terabytes of shadow mappings.
_SITECUSTOMIZE = """import os
os.environ.pop("LD_PRELOAD", None)
"""


def _extensions() -> dict[str, list[str]]:
    """Each extension's dotted name and its C sources, from pyproject.toml (the build's own list)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    return {ext["name"]: ext["sources"] for ext in config["tool"]["setuptools"]["ext-modules"]}


def _compile(name: str, sources: list[str]) -> None:
    output = BUILD.joinpath(*name.split(".")).with_suffix(sysconfig.get_config_var("EXT_SUFFIX"))
    include = sysconfig.get_paths()["include"]
    paths = [str(BUILD / source) for source in sources]
    command = ["gcc", *FLAGS, "-shared", "-fPIC", f"-I{include}", *paths, "-o", str(output)]
    subprocess.run(command, check=True)


def _runtime() -> str:
    path = subprocess.run(
        ["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not os.path.isabs(path):
        raise SystemExit("gcc has no libasan.so here (Debian: apt-get install libasan8)")
    return path


def main(argv: list[str]) -> int:
    _copy_tree()
    for name, sources in _extensions().items():
        _compile(name, sources)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LD_PRELOAD")}
    env.update(
        {
            "LD_PRELOAD": _runtime(),
            "PYTHONMALLOC": "malloc",
            "PYTHONPATH": str(BUILD),
            "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:halt_on_error=1:exitcode=86",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        }
    )
    chosen = any(arg.startswith("tests") for arg in argv)
    tests = argv if chosen else [*argv, *DEFAULT_TESTS]
    # --capture=sys: a sanitizer writes its report to file descriptor 2, which must reach the terminal.
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--capture=sys", "-q", *tests]
    print(f"ASan build in {BUILD}: {' '.join(command)}", flush=True)
    return subprocess.run(command, cwd=BUILD, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
