from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast






T = TypeVar("T", bound="ProcessInfo")



@_attrs_define
class ProcessInfo:
    """ 
        Attributes:
            comm (str):
            container_id (None | str): the container it is in; null outside a container
            pid (int):
            pod_uid (None | str): the Kubernetes pod of its container; null outside a container, "" in a container outside
                Kubernetes
            rss_bytes (int):
            uid (int):
     """

    comm: str
    container_id: None | str
    pid: int
    pod_uid: None | str
    rss_bytes: int
    uid: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        comm = self.comm

        container_id: None | str
        container_id = self.container_id

        pid = self.pid

        pod_uid: None | str
        pod_uid = self.pod_uid

        rss_bytes = self.rss_bytes

        uid = self.uid


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "comm": comm,
            "container_id": container_id,
            "pid": pid,
            "pod_uid": pod_uid,
            "rss_bytes": rss_bytes,
            "uid": uid,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        comm = d.pop("comm")

        def _parse_container_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        container_id = _parse_container_id(d.pop("container_id"))


        pid = d.pop("pid")

        def _parse_pod_uid(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        pod_uid = _parse_pod_uid(d.pop("pod_uid"))


        rss_bytes = d.pop("rss_bytes")

        uid = d.pop("uid")

        process_info = cls(
            comm=comm,
            container_id=container_id,
            pid=pid,
            pod_uid=pod_uid,
            rss_bytes=rss_bytes,
            uid=uid,
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
