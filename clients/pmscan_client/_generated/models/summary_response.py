from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.summary_response_categories import SummaryResponseCategories
  from ..models.vma_summary import VmaSummary





T = TypeVar("T", bound="SummaryResponse")



@_attrs_define
class SummaryResponse:
    """ 
        Attributes:
            categories (SummaryResponseCategories):
            end (int):
            pages (int):
            pid (int):
            start (int):
            walk_end (int):
            vmas (list[VmaSummary] | None | Unset):
     """

    categories: SummaryResponseCategories
    end: int
    pages: int
    pid: int
    start: int
    walk_end: int
    vmas: list[VmaSummary] | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.summary_response_categories import SummaryResponseCategories # noqa: PLC0415
        from ..models.vma_summary import VmaSummary # noqa: PLC0415
        categories = self.categories.to_dict()

        end = self.end

        pages = self.pages

        pid = self.pid

        start = self.start

        walk_end = self.walk_end

        vmas: list[dict[str, Any]] | None | Unset
        if isinstance(self.vmas, Unset):
            vmas = UNSET
        elif isinstance(self.vmas, list):
            vmas = []
            for vmas_type_0_item_data in self.vmas:
                vmas_type_0_item = vmas_type_0_item_data.to_dict()
                vmas.append(vmas_type_0_item)


        else:
            vmas = self.vmas


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "categories": categories,
            "end": end,
            "pages": pages,
            "pid": pid,
            "start": start,
            "walk_end": walk_end,
        })
        if vmas is not UNSET:
            field_dict["vmas"] = vmas

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.summary_response_categories import SummaryResponseCategories # noqa: PLC0415
        from ..models.vma_summary import VmaSummary # noqa: PLC0415
        d = dict(src_dict)
        categories = SummaryResponseCategories.from_dict(d.pop("categories"))




        end = d.pop("end")

        pages = d.pop("pages")

        pid = d.pop("pid")

        start = d.pop("start")

        walk_end = d.pop("walk_end")

        def _parse_vmas(data: object) -> list[VmaSummary] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                vmas_type_0 = []
                _vmas_type_0 = data
                for vmas_type_0_item_data in (_vmas_type_0):
                    vmas_type_0_item = VmaSummary.from_dict(vmas_type_0_item_data)



                    vmas_type_0.append(vmas_type_0_item)

                return vmas_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[VmaSummary] | None | Unset, data)

        vmas = _parse_vmas(d.pop("vmas", UNSET))


        summary_response = cls(
            categories=categories,
            end=end,
            pages=pages,
            pid=pid,
            start=start,
            walk_end=walk_end,
            vmas=vmas,
        )


        summary_response.additional_properties = d
        return summary_response

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
