"""The shape of app/: every folder a package (so that the import contracts of pyproject.toml,
which ``make lint`` checks with lint-imports, see it), and none a drawer of modules."""

from __future__ import annotations

from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
#: Modules (``.py`` files but ``__init__.py``) a package may hold: one concept each, and few
#: enough that a reader sees the package's job from its listing.
MAX_MODULES = 16


def packages() -> list[Path]:
    return sorted(d for d in [APP, *APP.rglob("*")] if d.is_dir() and any(d.glob("*.py")))


def test_every_folder_of_modules_is_a_package() -> None:
    assert [str(d.relative_to(APP.parent)) for d in packages() if not (d / "__init__.py").exists()] == []


def test_no_package_holds_more_than_a_few_modules() -> None:
    counts = {str(d.relative_to(APP.parent)): len(list(d.glob("*.py"))) - 1 for d in packages()}
    assert {name: n for name, n in counts.items() if n > MAX_MODULES} == {}, counts
