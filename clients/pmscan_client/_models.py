"""What the facade returns: regions and page counts keyed by :class:`Category`.

Processes, mappings and capabilities come back as the generated models themselves
(``ProcessInfo``, ``MappingInfo``, ``Capabilities``): they fit as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from ._categories import Category
from ._generated.models import SummaryResponse
from ._generated.models import VmaSummary as GeneratedVmaSummary
from ._generated.types import Unset

__all__ = ["PageRegion", "Summary", "VmaSummary", "category_counts"]


class PageRegion(NamedTuple):
    """Pages ``[start, end)`` (bytes, page-aligned) that share ``categories``."""

    start: int
    end: int
    categories: Category

    def pages(self, page_size: int) -> int:
        return (self.end - self.start) // page_size


def category_counts(named: Mapping[str, int]) -> dict[Category, int]:
    """``{"PRESENT": n, …}`` as ``{Category.PRESENT: n, …}`` in bit order."""
    return dict(
        sorted(((Category[name], count) for name, count in named.items()), key=lambda kv: kv[0].value)
    )


@dataclass(frozen=True)
class VmaSummary:
    """Page counts of one mapping ``[start, end)`` that has matching pages."""

    start: int
    end: int
    perms: str
    path: str
    pages: int
    categories: dict[Category, int]

    @classmethod
    def from_generated(cls, vma: GeneratedVmaSummary) -> VmaSummary:
        return cls(
            vma.start,
            vma.end,
            vma.perms,
            vma.path,
            vma.pages,
            category_counts(vma.categories.additional_properties),
        )


@dataclass(frozen=True)
class Summary:
    """``POST /summary``: how many matching pages, and how many of them in each category.

    ``[start, end)`` is the range the server resolved; ``walk_end`` where the walk stopped
    (``end`` unless ``max_pages`` cut it short); ``vmas`` only when asked ``by_vma``.
    """

    pid: int
    start: int
    end: int
    walk_end: int
    pages: int
    categories: dict[Category, int]
    vmas: list[VmaSummary] | None = None

    @classmethod
    def from_generated(cls, response: object) -> Summary:
        if not isinstance(response, SummaryResponse):
            raise TypeError(f"expected a SummaryResponse, got {type(response).__name__}")
        vmas = None
        if not isinstance(response.vmas, Unset) and response.vmas is not None:
            vmas = [VmaSummary.from_generated(v) for v in response.vmas]
        return cls(
            pid=response.pid,
            start=response.start,
            end=response.end,
            walk_end=response.walk_end,
            pages=response.pages,
            categories=category_counts(response.categories.additional_properties),
            vmas=vmas,
        )
