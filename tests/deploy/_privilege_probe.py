"""Run as `python _privilege_probe.py PID`: tries what pmscan does to another process and prints one
JSON object, {operation: "ok" | errno name}. Standard library only; it must run as any user."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import struct
import sys

# _IOWR('f', 16, struct pm_scan_arg): struct pm_scan_arg is twelve u64, 96 bytes.
PM_SCAN_ARG_SIZE = 96
PAGEMAP_SCAN = (3 << 30) | (PM_SCAN_ARG_SIZE << 16) | (ord("f") << 8) | 16
PAGE_REGION_SIZE = 24
ALL_CATEGORIES = 0xFF


def first_mapping(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/maps") as maps:
        start, end = maps.readline().split()[0].split("-")
    return int(start, 16), int(end, 16)


def read_pagemap(pid: int) -> None:
    start, _ = first_mapping(pid)
    fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
    try:
        os.pread(fd, 8, start // os.sysconf("SC_PAGE_SIZE") * 8)
    finally:
        os.close(fd)


def pagemap_scan(pid: int) -> None:
    start, end = first_mapping(pid)
    vec = ctypes.create_string_buffer(PAGE_REGION_SIZE * 16)
    arg = bytearray(
        struct.pack(
            "12Q", PM_SCAN_ARG_SIZE, 0, start, end, 0, ctypes.addressof(vec), 16, 0, 0, 0, 0, ALL_CATEGORIES
        )
    )
    fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
    try:
        fcntl.ioctl(fd, PAGEMAP_SCAN, arg)
    finally:
        os.close(fd)


def clear_soft_dirty(pid: int) -> None:
    fd = os.open(f"/proc/{pid}/clear_refs", os.O_WRONLY)
    try:
        os.write(fd, b"4")
    finally:
        os.close(fd)


def main() -> None:
    pid = int(sys.argv[1])
    results = {}
    for name, operation in (
        ("read_maps", first_mapping),
        ("read_pagemap", read_pagemap),
        ("pagemap_scan", pagemap_scan),
        ("clear_soft_dirty", clear_soft_dirty),
    ):
        try:
            operation(pid)
            results[name] = "ok"
        except OSError as e:
            results[name] = errno.errorcode.get(e.errno or 0, str(e.errno))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
