"""The command's package: the SDK stands without it and its extra, ``pmscan`` without the extra
says how to install it, one table binds subcommands to handlers, and every module's ``__all__``
is sorted and honest."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pmscan_client
import pytest
from pmscan_client.cli import EXTRA, INSTALL
from pmscan_client.cli.parser import build_parser

from tests.support.server import ServerProcess

CLIENTS = Path(pmscan_client.__file__).parents[1]
#: Python run with the [cli] extra's modules made unimportable, as where it is not installed.
WITHOUT_EXTRA = f"import sys\nfor name in {EXTRA!r}: sys.modules[name] = None\n"


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )


def test_importing_the_sdk_imports_neither_rich_nor_prometheus_client() -> None:
    """``httpx`` imports its own command line (``httpx._main``, which imports rich) whenever click,
    pygments and rich happen to be installed, as they are here: that one is left out, so that
    what is left is the SDK's own doing."""
    done = python(
        "import sys\n"
        "sys.modules['httpx._main'] = None\n"
        "import pmscan_client\n"
        "assert 'rich' not in sys.modules, 'rich'\n"
        "assert 'prometheus_client' not in sys.modules, 'prometheus_client'\n"
    )
    assert done.returncode == 0, done.stderr


def test_the_sdk_works_without_the_extra(server: ServerProcess) -> None:
    """Every module of the SDK (all but the command's) imports, and a client answers."""
    done = python(
        WITHOUT_EXTRA
        + "import importlib, pkgutil, pmscan_client\n"
        + "for module in pkgutil.walk_packages(pmscan_client.__path__, 'pmscan_client.'):\n"
        + "    if module.name.split('.')[1] not in ('cli', '__main__'):\n"
        + "        importlib.import_module(module.name)\n"
        + f"with pmscan_client.Client({server.url!r}) as node:\n"
        + "    print(node.capabilities().page_size)\n"
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 0


def test_pmscan_without_the_extra_says_how_to_install_it() -> None:
    done = python(WITHOUT_EXTRA + "sys.argv = ['pmscan', 'caps']\nfrom pmscan_client.cli import run\nrun()\n")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "pmscan: the command needs the [cli] extra of pmscan-client (rich, prometheus_client is not "
        f"installed): {INSTALL}\n"
    )
    assert "pip install './clients[cli]'" in INSTALL


def test_the_distribution_declares_the_split() -> None:
    project = tomllib.loads((CLIENTS / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {r.split(">")[0].split("=")[0].split("<")[0].strip() for r in requirements}

    assert names(project["dependencies"]) == {"httpx", "attrs"}
    assert names(project["optional-dependencies"]["cli"]) == {"rich", "prometheus-client"}
    assert {name.replace("-", "_") for name in names(project["optional-dependencies"]["cli"])} == set(EXTRA)
    assert project["scripts"] == {"pmscan": "pmscan_client.cli:run"}


def test_every_subcommand_has_its_handler() -> None:
    parser = build_parser()
    (subcommands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(subcommands.choices) == {
        "scan", "summary", "containers", "ps", "maps", "caps", "top", "watch", "map", "clear-soft-dirty",
        "fleet",
    }  # fmt: skip
    handlers = {name: sub.get_default("handler") for name, sub in subcommands.choices.items()}
    assert all(callable(handler) for handler in handlers.values()), handlers
    assert len(set(handlers.values())) == len(handlers)  # one handler per command


def modules() -> list[str]:
    found = ["pmscan_client"]
    for module in pkgutil.walk_packages(pmscan_client.__path__, "pmscan_client."):
        if "_generated" not in module.name and not module.name.endswith("__main__"):
            found.append(module.name)
    return found


@pytest.mark.parametrize("name", modules())
def test_all_is_sorted_and_names_what_the_module_defines(name: str) -> None:
    module = importlib.import_module(name)
    names = getattr(module, "__all__", None)
    assert names is not None, f"{name} has no __all__"
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[:1].isupper(), n)), name
    assert all(hasattr(module, n) for n in names), [n for n in names if not hasattr(module, n)]
