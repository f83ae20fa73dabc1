from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="ScanTrailer")



@_attrs_define
class ScanTrailer:
    """ The last NDJSON line of a complete answer.

        Attributes:
            pages (int):
            regions (int):
            walk_end (int): a correct resume point; equals end when nothing is left
     """

    pages: int
    regions: int
    walk_end: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        pages = self.pages

        regions = self.regions

        walk_end = self.walk_end


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "pages": pages,
            "regions": regions,
            "walk_end": walk_end,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        pages = d.pop("pages")

        regions = d.pop("regions")

        walk_end = d.pop("walk_end")

        scan_trailer = cls(
            pages=pages,
            regions=regions,
            walk_end=walk_end,
        )


        scan_trailer.additional_properties = d
        return scan_trailer

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
