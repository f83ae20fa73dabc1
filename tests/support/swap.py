"""A swapfile that exists only for the duration of a ``with`` block."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

__all__ = ["SwapUnavailableError", "temporary_swap"]


class SwapUnavailableError(Exception):
    """The swapfile could not be created or enabled (not root, no tools, filesystem refuses)."""


def _run(*argv: str) -> None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError as e:
        raise SwapUnavailableError(f"{argv[0]} is not installed") from e
    if result.returncode != 0:
        raise SwapUnavailableError(f"{' '.join(argv)} failed: {result.stderr.strip()}")


@contextlib.contextmanager
def temporary_swap(directory: Path, mib: int = 64) -> Iterator[Path]:
    """Create, ``mkswap`` and ``swapon`` a *mib* MiB swapfile in *directory*; yield its path.

    On leaving the block the file is always ``swapoff``-ed and deleted, whatever happened inside.
    Raises ``SwapUnavailableError`` if swap cannot be enabled.
    """
    if os.geteuid() != 0:
        raise SwapUnavailableError("swapon needs root")
    path = Path(directory) / "pmscan-test.swap"
    try:
        # Swapfiles must have no holes: write the blocks instead of fallocate (refused by some fs).
        with open(path, "wb") as f:
            block = bytes(1 << 20)
            for _ in range(mib):
                f.write(block)
            f.flush()
            os.fsync(f.fileno())
        path.chmod(0o600)
        _run("mkswap", str(path))
        _run("swapon", str(path))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    try:
        yield path
    finally:
        try:
            _run("swapoff", str(path))
        finally:
            path.unlink(missing_ok=True)
