"""``/proc/PID/smaps``: the mappings of a process, with what the kernel says of each."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["SmapsMapping", "parse_smaps"]


class SmapsMapping(NamedTuple):
    """One mapping of ``/proc/PID/smaps``: bytes ``[start, end)``, ``perms`` like ``rw-p``,
    the ``kB`` fields in bytes (``sizes["AnonHugePages"]``) and the ``VmFlags`` mnemonics
    (``"ht"`` hugetlb, ``"pf"`` VM_PFNMAP, ``"uw"`` userfaultfd write-protect, ...)."""

    start: int
    end: int
    perms: str
    inode: int
    path: str
    sizes: dict[str, int]
    vm_flags: frozenset[str]


def parse_smaps(text: str) -> list[SmapsMapping]:
    """Parse the text of ``/proc/PID/smaps`` (paths may contain spaces)."""
    mappings: list[SmapsMapping] = []
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key.endswith(":"):
            if not mappings:
                continue
            if key == "VmFlags:":
                mappings[-1] = mappings[-1]._replace(vm_flags=frozenset(value.split()))
            elif value.endswith(" kB"):
                mappings[-1].sizes[key[:-1]] = int(value[:-3]) * 1024
            continue
        fields = line.split(maxsplit=5)
        if len(fields) < 5:
            continue
        start, _, end = fields[0].partition("-")
        mappings.append(
            SmapsMapping(
                start=int(start, 16),
                end=int(end, 16),
                perms=fields[1],
                inode=int(fields[4]),
                path=fields[5] if len(fields) > 5 else "",
                sizes={},
                vm_flags=frozenset(),
            )
        )
    return mappings
