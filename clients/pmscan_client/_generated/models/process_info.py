from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="ProcessInfo")



@_attrs_define
class ProcessInfo:
    """ 
        Attributes:
            comm (str):
            pid (int):
            rss_bytes (int):
            uid (int):
     """

    comm: str
    pid: int
    rss_bytes: int
    uid: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        comm = self.comm

        pid = self.pid

        rss_bytes = self.rss_bytes

        uid = self.uid


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "comm": comm,
            "pid": pid,
            "rss_bytes": rss_bytes,
            "uid": uid,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        comm = d.pop("comm")

        pid = d.pop("pid")

        rss_bytes = d.pop("rss_bytes")

        uid = d.pop("uid")

        process_info = cls(
            comm=comm,
            pid=pid,
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
