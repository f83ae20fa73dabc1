"""``python -m clients.regenerate`` (``make sdk``): refresh ``openapi.json`` from the app, then
the generated client ``clients/pmscan_client/_generated`` from ``openapi.json``.

The generated tree is committed and never edited by hand; ``tests/clients/test_generated.py``
regenerates it into a temporary directory and fails on any difference.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["CONFIG", "GENERATED", "GENERATOR_VERSION", "OPENAPI", "differences", "export_openapi", "generate"]

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = ROOT / "openapi.json"
CONFIG = ROOT / "clients" / "openapi-generator.yaml"
GENERATED = ROOT / "clients" / "pmscan_client" / "_generated"
#: The output differs between generator versions: pinned here and in pyproject.toml's test extra.
GENERATOR_VERSION = "0.29.1"
_IGNORED = ("__pycache__", "*.pyc")


def export_openapi() -> str:
    """The app's OpenAPI document as ``make openapi`` writes it (``python -m app.openapi``)."""
    result = subprocess.run(
        [sys.executable, "-m", "app.openapi"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"python -m app.openapi failed:\n{result.stderr}")
    return result.stdout


def generate(document: Path, into: Path) -> Path:
    """Run openapi-python-client on ``document``; return the new package directory under ``into``."""
    try:
        installed = version("openapi-python-client")
    except PackageNotFoundError:
        installed = None
    if installed != GENERATOR_VERSION:
        raise RuntimeError(
            f"openapi-python-client {GENERATOR_VERSION} is needed (found {installed}): "
            f"pip install openapi-python-client=={GENERATOR_VERSION}"
        )
    package = into / GENERATED.name
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(document),
            "--config",
            str(CONFIG),
            "--meta",
            "none",
            "--output-path",
            str(package),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not package.is_dir():
        raise RuntimeError(f"openapi-python-client failed:\n{result.stdout}{result.stderr}")
    return package


def differences(left: Path, right: Path) -> list[str]:
    """Paths (relative) that are missing on one side or differ in content."""
    found: list[str] = []

    def walk(comparison: filecmp.dircmp[str], prefix: str) -> None:
        found.extend(f"{prefix}{name}" for name in comparison.left_only + comparison.right_only)
        found.extend(f"{prefix}{name}" for name in comparison.funny_files)
        _, mismatch, errors = filecmp.cmpfiles(
            comparison.left, comparison.right, comparison.common_files, shallow=False
        )
        found.extend(f"{prefix}{name}" for name in mismatch + errors)
        for name, sub in sorted(comparison.subdirs.items()):
            walk(sub, f"{prefix}{name}/")

    walk(filecmp.dircmp(left, right, ignore=[*filecmp.DEFAULT_IGNORES, *_IGNORED]), "")
    return sorted(found)


def _install(package: Path) -> None:
    """Put ``package`` in the place of the committed tree (renames within one directory)."""
    old = GENERATED.with_name(GENERATED.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if GENERATED.exists():
        GENERATED.rename(old)
    package.rename(GENERATED)
    shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.regenerate", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--no-export", action="store_true", help="generate from the existing openapi.json, leave it as it is"
    )
    args = parser.parse_args(argv)
    if not args.no_export:
        OPENAPI.write_text(export_openapi())
        print(f"wrote {OPENAPI.relative_to(ROOT)}")
    with tempfile.TemporaryDirectory(dir=GENERATED.parent, prefix=".regenerate-") as scratch:
        package = generate(OPENAPI, Path(scratch))
        changed = differences(GENERATED, package) if GENERATED.exists() else ["(new)"]
        _install(package)
    print(f"wrote {GENERATED.relative_to(ROOT)}: {len(changed)} file(s) changed")
    for name in changed:
        print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
