"""``--range A-B``: the forms of an address range that the command reads.

An address is hex when written ``0x…``, decimal when written in digits alone. A range written
as ``/proc/PID/maps`` and ``pmscan maps`` print it — bare hex, ``7fdc70e00000-7fdc74e00000`` or
``00400000-0040b000`` — is hex: without ``0x``, a letter ``a``-``f`` or a leading ``0`` in either
address marks that form, and then both addresses are hex. The rule leaves one form ambiguous:
an address of ``maps`` in digits alone (``555555554000``) in a range of such addresses. That one
would be read as decimal, which is no page address (not a multiple of 4096): a decimal address
that is not one is refused, with the hex spelling to use instead, rather than misread.
"""

from __future__ import annotations

import re

from .exits import UsageError

__all__ = ["PAGE", "RANGE_HELP", "parse_range"]

#: Every page size of Linux is a multiple of this: a decimal address must be one too.
PAGE = 4096

RANGE_HELP = (
    "the address range [A, B); A- or -B leaves one end open (write --range=-B). "
    "0x7fdc70e00000 is hex, 140584763260928 (digits alone) decimal (the same address); "
    "a range as /proc/PID/maps and `pmscan maps` print it (7fdc70e00000-7fdc74e00000, "
    "00400000-0040b000: bare hex, marked by a letter a-f or a leading 0) is hex. "
    "A decimal address must be a multiple of 4096: write an all-digit hex address with 0x"
)

_HEX_PREFIX = re.compile(r"0[xX]")
_BARE = re.compile(r"[0-9a-fA-F]+")


def parse_range(text: str | None) -> dict[str, int]:
    """``{"start": A, "end": B}`` (either may be absent) of ``--range`` ``text``.

    Raises :class:`UsageError` for a form it does not read (see the module's docstring).
    """
    if not text:
        return {}
    low, sep, high = text.strip().partition("-")
    if not sep or not (low or high):
        raise UsageError(f"--range {text!r}: expected A-B, A- or -B")
    given = {name: value.strip() for name, value in (("start", low), ("end", high)) if value.strip()}
    bare = [value for value in given.values() if not _HEX_PREFIX.match(value)]
    for value in given.values():
        digits = _HEX_PREFIX.sub("", value, count=1)
        if not _BARE.fullmatch(digits):
            raise UsageError(
                f"--range {text!r}: {value!r} is no address: write 0x… (hex), digits (decimal), "
                "or the range as /proc/PID/maps prints it"
            )
    maps_form = any(_marks_hex(value) for value in bare)
    bounds: dict[str, int] = {}
    for name, value in given.items():
        if _HEX_PREFIX.match(value) or maps_form:
            bounds[name] = int(_HEX_PREFIX.sub("", value, count=1), 16)
            continue
        bounds[name] = int(value)
        if bounds[name] % PAGE:
            spelled = "-".join(_as_hex(given.get(n, "")) for n in ("start", "end"))
            raise UsageError(
                f"--range {text!r}: digits alone are decimal, and {value} is not a multiple of "
                f"{PAGE} (no page address); if it is hex, as /proc/PID/maps writes it: --range={spelled}"
            )
    return bounds


def _marks_hex(value: str) -> bool:
    """Whether a bare address is written as ``maps`` writes them: a letter, or zero-padded."""
    return any(c in "abcdefABCDEF" for c in value) or (len(value) > 1 and value.startswith("0"))


def _as_hex(value: str) -> str:
    return value if not value or _HEX_PREFIX.match(value) else "0x" + value
