from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="ProcessInfo")



@_attrs_define
class ProcessInfo:
    """ 
        Attributes:
            comm (str):
            pid (int):
            rss_bytes (int):
            uid (int):
            container_id (None | str | Unset): the container it is in; null outside a container
            pod_uid (None | str | Unset): the Kubernetes pod of its container; null outside a container, "" in a container
                outside Kubernetes
     """

    comm: str
    pid: int
    rss_bytes: int
    uid: int
    container_id: None | str | Unset = UNSET
    pod_uid: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        comm = self.comm

        pid = self.pid

        rss_bytes = self.rss_bytes

        uid = self.uid

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
            "comm": comm,
            "pid": pid,
            "rss_bytes": rss_bytes,
            "uid": uid,
        })
        if container_id is not UNSET:
            field_dict["container_id"] = container_id
        if pod_uid is not UNSET:
            field_dict["pod_uid"] = pod_uid

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        comm = d.pop("comm")

        pid = d.pop("pid")

        rss_bytes = d.pop("rss_bytes")

        uid = d.pop("uid")

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


        process_info = cls(
            comm=comm,
            pid=pid,
            rss_bytes=rss_bytes,
            uid=uid,
            container_id=container_id,
            pod_uid=pod_uid,
        )


        process_info.additional_properties = d
        return process_info

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
