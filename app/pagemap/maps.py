"""``/proc/PID/maps``: the mappings of a process."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Mapping", "parse_maps"]


class Mapping(NamedTuple):
    """One line of ``/proc/PID/maps``: bytes ``[start, end)`` and what backs them."""

    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    path: str


def parse_maps(text: str) -> list[Mapping]:
    """Parse the text of ``/proc/PID/maps`` (paths may contain spaces)."""
    mappings = []
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 5:
            continue
        start, _, end = fields[0].partition("-")
        mappings.append(
            Mapping(
                start=int(start, 16),
                end=int(end, 16),
                perms=fields[1],
                offset=int(fields[2], 16),
                dev=fields[3],
                inode=int(fields[4]),
                path=fields[5] if len(fields) > 5 else "",
            )
        )
    return mappings
