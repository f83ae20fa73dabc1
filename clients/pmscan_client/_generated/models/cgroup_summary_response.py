from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.cgroup_summary_response_categories import CgroupSummaryResponseCategories
  from ..models.skipped_process import SkippedProcess
  from ..models.summary_response import SummaryResponse





T = TypeVar("T", bound="CgroupSummaryResponse")



@_attrs_define
class CgroupSummaryResponse:
    """ ``/summary`` of a cgroup: one summary per process, and their sum.

        Attributes:
            categories (CgroupSummaryResponseCategories):
            cgroup (str):
            pages (int):
            processes (list[SummaryResponse]):
            skipped (list[SkippedProcess]):
     """

    categories: CgroupSummaryResponseCategories
    cgroup: str
    pages: int
    processes: list[SummaryResponse]
    skipped: list[SkippedProcess]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.cgroup_summary_response_categories import CgroupSummaryResponseCategories # noqa: PLC0415
        from ..models.skipped_process import SkippedProcess # noqa: PLC0415
        from ..models.summary_response import SummaryResponse # noqa: PLC0415
        categories = self.categories.to_dict()

        cgroup = self.cgroup

        pages = self.pages

        processes = []
        for processes_item_data in self.processes:
            processes_item = processes_item_data.to_dict()
            processes.append(processes_item)



        skipped = []
        for skipped_item_data in self.skipped:
            skipped_item = skipped_item_data.to_dict()
            skipped.append(skipped_item)




        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "categories": categories,
            "cgroup": cgroup,
            "pages": pages,
            "processes": processes,
            "skipped": skipped,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.cgroup_summary_response_categories import CgroupSummaryResponseCategories # noqa: PLC0415
        from ..models.skipped_process import SkippedProcess # noqa: PLC0415
        from ..models.summary_response import SummaryResponse # noqa: PLC0415
        d = dict(src_dict)
        categories = CgroupSummaryResponseCategories.from_dict(d.pop("categories"))




        cgroup = d.pop("cgroup")

        pages = d.pop("pages")

        processes = []
        _processes = d.pop("processes")
        for processes_item_data in (_processes):
            processes_item = SummaryResponse.from_dict(processes_item_data)



            processes.append(processes_item)


        skipped = []
        _skipped = d.pop("skipped")
        for skipped_item_data in (_skipped):
            skipped_item = SkippedProcess.from_dict(skipped_item_data)



            skipped.append(skipped_item)


        cgroup_summary_response = cls(
            categories=categories,
            cgroup=cgroup,
            pages=pages,
            processes=processes,
            skipped=skipped,
        )


        cgroup_summary_response.additional_properties = d
        return cgroup_summary_response

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
