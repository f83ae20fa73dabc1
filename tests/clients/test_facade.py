"""The facade's promises: an honest ``__all__``, the server's vocabulary and exception names."""

from __future__ import annotations

import enum
import inspect

import pmscan_client
from pmscan_client import Category, PmscanError, ScanFlag
from pmscan_client._errors import STATUS

import app.http.app  # noqa: F401 (every server error class is defined once the app's modules are)
from app.errors import PmscanError as ServerError
from app.http.app import openapi_document as document
from app.http.exception_handlers import UNDELIVERED
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


def declared_by_routes() -> dict[int, set[str]]:
    """HTTP status -> the names of the server errors some route declares it may answer with."""
    found: dict[int, set[str]] = {}
    for path in document()["paths"].values():
        for operation in path.values():
            for status, response in operation["responses"].items():
                for error in response.get("x-pmscan-errors", ()):
                    found.setdefault(int(status), set()).add(error["name"])
    return found


def test_exception_names_are_the_servers() -> None:
    for status, names in declared_by_routes().items():
        ours = STATUS.get(status)
        assert ours is not None, f"the SDK has no exception for HTTP {status} ({', '.join(sorted(names))})"
        assert ours.__name__ in names | {RENAMED.get(status)}, f"HTTP {status}: {ours.__name__} vs {names}"
        assert issubclass(ours, PmscanError)


def test_every_server_error_is_declared_by_a_route() -> None:
    """An error no route lists would reach clients without the SDK (or the document) knowing it."""
    declared = set().union(*declared_by_routes().values())
    pending, concrete = [ServerError], []
    while pending:
        kind = pending.pop()
        subclasses = kind.__subclasses__()
        pending.extend(subclasses)
        if not subclasses and kind.status not in UNDELIVERED:
            concrete.append(kind.__name__)
    assert sorted(set(concrete) - declared) == []
