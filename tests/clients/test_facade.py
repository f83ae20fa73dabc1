"""The facade's promises: an honest ``__all__``, the server's vocabulary and exception names."""

from __future__ import annotations

import enum
import inspect

import pmscan_client
from pmscan_client import Category, PmscanError, ScanFlag
from pmscan_client._errors import STATUS

from app.api import exception_handlers
from app.pagemap import categories as server_categories

#: The SDK has one class per status; where the server has several, one of their names. 422 is
#: the exception: the server raises it for pydantic's validation and for InvalidScan (the
#: kernel's EINVAL) alike, and the SDK cannot tell them apart, hence the general name.
RENAMED = {422: "InvalidRequest"}


def test_all_is_sorted_and_complete() -> None:
    names = pmscan_client.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))
    public = {n for n, v in vars(pmscan_client).items() if not n.startswith("_") and not inspect.ismodule(v)}
    assert set(names) == public


def test_every_exception_is_exported() -> None:
    for error in set(STATUS.values()):
        assert getattr(pmscan_client, error.__name__) is error


def test_categories_and_flags_equal_the_servers() -> None:
    for ours, theirs in ((Category, server_categories.Category), (ScanFlag, server_categories.ScanFlag)):
        assert issubclass(ours, enum.IntFlag)
        assert {m.name: m.value for m in ours} == {m.name: m.value for m in theirs}


def test_exception_names_are_the_servers() -> None:
    server: dict[int, set[str]] = {}
    for kind, status in exception_handlers.STATUS.items():
        if status not in exception_handlers.UNDELIVERED:
            server.setdefault(status, set()).add(kind.__name__)
    for status, names in server.items():
        ours = STATUS.get(status)
        assert ours is not None, f"the SDK has no exception for HTTP {status} ({', '.join(sorted(names))})"
        assert ours.__name__ in names | {RENAMED.get(status)}, f"HTTP {status}: {ours.__name__} vs {names}"
        assert issubclass(ours, PmscanError)
