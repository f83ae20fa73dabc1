from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.region import Region





T = TypeVar("T", bound="ScanDocument")



@_attrs_define
class ScanDocument:
    """ 
        Attributes:
            end (int):
            pages (int):
            pid (int):
            regions (list[Region]):
            start (int):
            walk_end (int):
     """

    end: int
    pages: int
    pid: int
    regions: list[Region]
    start: int
    walk_end: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.region import Region # noqa: PLC0415
        end = self.end

        pages = self.pages

        pid = self.pid

        regions = []
        for regions_item_data in self.regions:
            regions_item = regions_item_data.to_dict()
            regions.append(regions_item)



        start = self.start

        walk_end = self.walk_end


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "end": end,
            "pages": pages,
            "pid": pid,
            "regions": regions,
            "start": start,
            "walk_end": walk_end,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.region import Region # noqa: PLC0415
        d = dict(src_dict)
        end = d.pop("end")

        pages = d.pop("pages")

        pid = d.pop("pid")

        regions = []
        _regions = d.pop("regions")
        for regions_item_data in (_regions):
            regions_item = Region.from_dict(regions_item_data)



            regions.append(regions_item)


        start = d.pop("start")

        walk_end = d.pop("walk_end")

        scan_document = cls(
            end=end,
            pages=pages,
            pid=pid,
            regions=regions,
            start=start,
            walk_end=walk_end,
        )


        scan_document.additional_properties = d
        return scan_document

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
