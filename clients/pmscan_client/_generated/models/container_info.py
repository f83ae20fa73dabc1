from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.container_info_qos import ContainerInfoQos
from ..models.container_info_runtime import ContainerInfoRuntime
from typing import cast






T = TypeVar("T", bound="ContainerInfo")



@_attrs_define
class ContainerInfo:
    """ A container that has processes on this node, recognized from their cgroup path.

        Attributes:
            cgroup (str): the container's cgroup, as /summary's cgroup takes it (the host's path, also when pmscan runs in a
                container)
            container_id (str): the runtime's id: 64 hexadecimal digits
            pids (list[int]): its processes, by pid
            pod_uid (str): the Kubernetes pod's UID; "" outside Kubernetes
            qos (ContainerInfoQos): the pod's QoS class; "" outside Kubernetes
            runtime (ContainerInfoRuntime): as the cgroup path names it; "" where it does not (the cgroupfs driver)
     """

    cgroup: str
    container_id: str
    pids: list[int]
    pod_uid: str
    qos: ContainerInfoQos
    runtime: ContainerInfoRuntime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        cgroup = self.cgroup

        container_id = self.container_id

        pids = self.pids



        pod_uid = self.pod_uid

        qos = self.qos.value

        runtime = self.runtime.value


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "cgroup": cgroup,
            "container_id": container_id,
            "pids": pids,
            "pod_uid": pod_uid,
            "qos": qos,
            "runtime": runtime,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        cgroup = d.pop("cgroup")

        container_id = d.pop("container_id")

        pids = cast(list[int], d.pop("pids"))


        pod_uid = d.pop("pod_uid")

        qos = ContainerInfoQos(d.pop("qos"))




        runtime = ContainerInfoRuntime(d.pop("runtime"))




        container_info = cls(
            cgroup=cgroup,
            container_id=container_id,
            pids=pids,
            pod_uid=pod_uid,
            qos=qos,
            runtime=runtime,
        )


        container_info.additional_properties = d
        return container_info

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
