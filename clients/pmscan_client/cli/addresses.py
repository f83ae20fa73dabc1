"""``--range A-B``: the forms of an address range that the command reads."""

from __future__ import annotations

from .exits import UsageError

__all__ = ["RANGE_HELP", "parse_range"]

RANGE_HELP = "the address range [A, B) (hex or decimal; A- or -B)"


def parse_range(text: str | None) -> dict[str, int]:
    """``{"start": A, "end": B}`` (either may be absent) of ``--range`` ``text``."""
    if not text:
        return {}
    low, sep, high = text.partition("-")
    if not sep:
        raise UsageError(f"--range {text!r}: expected A-B, A- or -B")
    try:
        bounds = {name: int(value, 0) for name, value in (("start", low), ("end", high)) if value}
    except ValueError:
        raise UsageError(f"--range {text!r}: addresses are hex (0x…) or decimal") from None
    return bounds
