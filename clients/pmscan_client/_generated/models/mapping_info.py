from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="MappingInfo")



@_attrs_define
class MappingInfo:
    """ 
        Attributes:
            dev (str):
            end (int):
            inode (int):
            offset (int):
            path (str):
            perms (str):
            start (int):
     """

    dev: str
    end: int
    inode: int
    offset: int
    path: str
    perms: str
    start: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        dev = self.dev

        end = self.end

        inode = self.inode

        offset = self.offset

        path = self.path

        perms = self.perms

        start = self.start


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "dev": dev,
            "end": end,
            "inode": inode,
            "offset": offset,
            "path": path,
            "perms": perms,
            "start": start,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        dev = d.pop("dev")

        end = d.pop("end")

        inode = d.pop("inode")

        offset = d.pop("offset")

        path = d.pop("path")

        perms = d.pop("perms")

        start = d.pop("start")

        mapping_info = cls(
            dev=dev,
            end=end,
            inode=inode,
            offset=offset,
            path=path,
            perms=perms,
            start=start,
        )


        mapping_info.additional_properties = d
        return mapping_info

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
