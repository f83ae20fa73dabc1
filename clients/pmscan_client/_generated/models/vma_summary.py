from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.vma_summary_categories import VmaSummaryCategories





T = TypeVar("T", bound="VmaSummary")



@_attrs_define
class VmaSummary:
    """ 
        Attributes:
            categories (VmaSummaryCategories):
            end (int):
            pages (int):
            path (str):
            perms (str):
            start (int):
     """

    categories: VmaSummaryCategories
    end: int
    pages: int
    path: str
    perms: str
    start: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.vma_summary_categories import VmaSummaryCategories # noqa: PLC0415
        categories = self.categories.to_dict()

        end = self.end

        pages = self.pages

        path = self.path

        perms = self.perms

        start = self.start


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "categories": categories,
            "end": end,
            "pages": pages,
            "path": path,
            "perms": perms,
            "start": start,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.vma_summary_categories import VmaSummaryCategories # noqa: PLC0415
        d = dict(src_dict)
        categories = VmaSummaryCategories.from_dict(d.pop("categories"))




        end = d.pop("end")

        pages = d.pop("pages")

        path = d.pop("path")

        perms = d.pop("perms")

        start = d.pop("start")

        vma_summary = cls(
            categories=categories,
            end=end,
            pages=pages,
            path=path,
            perms=perms,
            start=start,
        )


        vma_summary.additional_properties = d
        return vma_summary

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
