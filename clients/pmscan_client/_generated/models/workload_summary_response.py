from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.container_info import ContainerInfo
  from ..models.skipped_process import SkippedProcess
  from ..models.summary_response import SummaryResponse
  from ..models.workload_summary_response_categories import WorkloadSummaryResponseCategories





T = TypeVar("T", bound="WorkloadSummaryResponse")



@_attrs_define
class WorkloadSummaryResponse:
    """ ``/summary`` of a container or a pod: one summary per process its containers had at that
    moment, and their sum.

        Attributes:
            categories (WorkloadSummaryResponseCategories):
            containers (list[ContainerInfo]): the containers counted, with their processes then
            pages (int):
            processes (list[SummaryResponse]):
            skipped (list[SkippedProcess]):
            container_id (None | str | Unset): the container asked for, by its full id (absent when a pod was)
            pod_uid (None | str | Unset): the pod asked for (absent when a container was)
     """

    categories: WorkloadSummaryResponseCategories
    containers: list[ContainerInfo]
    pages: int
    processes: list[SummaryResponse]
    skipped: list[SkippedProcess]
    container_id: None | str | Unset = UNSET
    pod_uid: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.container_info import ContainerInfo # noqa: PLC0415
        from ..models.skipped_process import SkippedProcess # noqa: PLC0415
        from ..models.summary_response import SummaryResponse # noqa: PLC0415
        from ..models.workload_summary_response_categories import WorkloadSummaryResponseCategories # noqa: PLC0415
        categories = self.categories.to_dict()

        containers = []
        for containers_item_data in self.containers:
            containers_item = containers_item_data.to_dict()
            containers.append(containers_item)



        pages = self.pages

        processes = []
        for processes_item_data in self.processes:
            processes_item = processes_item_data.to_dict()
            processes.append(processes_item)



        skipped = []
        for skipped_item_data in self.skipped:
            skipped_item = skipped_item_data.to_dict()
            skipped.append(skipped_item)



        container_id: None | str | Unset
        if isinstance(self.container_id, Unset):
            container_id = UNSET
        else:
            container_id = self.container_id

        pod_uid: None | str | Unset
        if isinstance(self.pod_uid, Unset):
            pod_uid = UNSET
        else:
            pod_uid = self.pod_uid


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "categories": categories,
            "containers": containers,
            "pages": pages,
            "processes": processes,
            "skipped": skipped,
        })
        if container_id is not UNSET:
            field_dict["container_id"] = container_id
        if pod_uid is not UNSET:
            field_dict["pod_uid"] = pod_uid

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.container_info import ContainerInfo # noqa: PLC0415
        from ..models.skipped_process import SkippedProcess # noqa: PLC0415
        from ..models.summary_response import SummaryResponse # noqa: PLC0415
        from ..models.workload_summary_response_categories import WorkloadSummaryResponseCategories # noqa: PLC0415
        d = dict(src_dict)
        categories = WorkloadSummaryResponseCategories.from_dict(d.pop("categories"))




        containers = []
        _containers = d.pop("containers")
        for containers_item_data in (_containers):
            containers_item = ContainerInfo.from_dict(containers_item_data)



            containers.append(containers_item)


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


        def _parse_container_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        container_id = _parse_container_id(d.pop("container_id", UNSET))


        def _parse_pod_uid(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        pod_uid = _parse_pod_uid(d.pop("pod_uid", UNSET))


        workload_summary_response = cls(
            categories=categories,
            containers=containers,
            pages=pages,
            processes=processes,
            skipped=skipped,
            container_id=container_id,
            pod_uid=pod_uid,
        )


        workload_summary_response.additional_properties = d
        return workload_summary_response

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
