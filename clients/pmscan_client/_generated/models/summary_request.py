from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.summary_request_backend import SummaryRequestBackend
from ..models.summary_request_category_anyof_mask_type_1_item import SummaryRequestCategoryAnyofMaskType1Item
from ..models.summary_request_category_inverted_type_1_item import SummaryRequestCategoryInvertedType1Item
from ..models.summary_request_category_mask_type_1_item import SummaryRequestCategoryMaskType1Item
from ..models.summary_request_flags_type_1_item import SummaryRequestFlagsType1Item
from ..models.summary_request_return_mask_type_1_item import SummaryRequestReturnMaskType1Item
from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="SummaryRequest")



@_attrs_define
class SummaryRequest:
    """ ``/scan``'s body, for one process (``pid``), or every process of a cgroup (``cgroup``), of
    a container (``container_id``) or of a pod's containers (``pod_uid``).

        Attributes:
            backend (SummaryRequestBackend | Unset):  Default: SummaryRequestBackend.AUTO.
            by_vma (bool | Unset): also count pages per mapping Default: False.
            category_anyof_mask (int | list[SummaryRequestCategoryAnyofMaskType1Item] | Unset):  Default: 0.
            category_inverted (int | list[SummaryRequestCategoryInvertedType1Item] | Unset):  Default: 0.
            category_mask (int | list[SummaryRequestCategoryMaskType1Item] | Unset):  Default: 0.
            cgroup (None | str | Unset): every process of this cgroup (or give pid)
            container_id (None | str | Unset): every process of this container (or give pid, cgroup or pod_uid)
            end (int | None | str | Unset): exclusive end, rounded up to a page; default: the highest mapped end at or below
                the user address-space limit
            flags (int | list[SummaryRequestFlagsType1Item] | Unset): WP_MATCHING (needs the write scope), CHECK_WPASYNC
                Default: 0.
            max_pages (int | Unset): stop after this many matching pages; 0, or any count beyond the range's pages (2^64-1,
                C's -1): no limit Default: 0.
            pid (int | None | Unset): the target process (or give cgroup, container_id or pod_uid)
            pod_uid (None | str | Unset): every process of every container of this pod (or give pid, cgroup or container_id)
            return_mask (int | list[SummaryRequestReturnMaskType1Item] | None | Unset): categories each region reports;
                default: all the kernel knows
            start (int | None | str | Unset): page-aligned first address; default: the lowest mapped address
            vec_len (int | None | Unset): at most this many regions; absent, or any count beyond the answer's regions
                (2^64-1, C's -1): no limit; 0: none (the walk still runs)
     """

    backend: SummaryRequestBackend | Unset = SummaryRequestBackend.AUTO
    by_vma: bool | Unset = False
    category_anyof_mask: int | list[SummaryRequestCategoryAnyofMaskType1Item] | Unset = 0
    category_inverted: int | list[SummaryRequestCategoryInvertedType1Item] | Unset = 0
    category_mask: int | list[SummaryRequestCategoryMaskType1Item] | Unset = 0
    cgroup: None | str | Unset = UNSET
    container_id: None | str | Unset = UNSET
    end: int | None | str | Unset = UNSET
    flags: int | list[SummaryRequestFlagsType1Item] | Unset = 0
    max_pages: int | Unset = 0
    pid: int | None | Unset = UNSET
    pod_uid: None | str | Unset = UNSET
    return_mask: int | list[SummaryRequestReturnMaskType1Item] | None | Unset = UNSET
    start: int | None | str | Unset = UNSET
    vec_len: int | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        backend: str | Unset = UNSET
        if not isinstance(self.backend, Unset):
            backend = self.backend.value


        by_vma = self.by_vma

        category_anyof_mask: int | list[str] | Unset
        if isinstance(self.category_anyof_mask, Unset):
            category_anyof_mask = UNSET
        elif isinstance(self.category_anyof_mask, list):
            category_anyof_mask = []
            for category_anyof_mask_type_1_item_data in self.category_anyof_mask:
                category_anyof_mask_type_1_item = category_anyof_mask_type_1_item_data.value
                category_anyof_mask.append(category_anyof_mask_type_1_item)


        else:
            category_anyof_mask = self.category_anyof_mask

        category_inverted: int | list[str] | Unset
        if isinstance(self.category_inverted, Unset):
            category_inverted = UNSET
        elif isinstance(self.category_inverted, list):
            category_inverted = []
            for category_inverted_type_1_item_data in self.category_inverted:
                category_inverted_type_1_item = category_inverted_type_1_item_data.value
                category_inverted.append(category_inverted_type_1_item)


        else:
            category_inverted = self.category_inverted

        category_mask: int | list[str] | Unset
        if isinstance(self.category_mask, Unset):
            category_mask = UNSET
        elif isinstance(self.category_mask, list):
            category_mask = []
            for category_mask_type_1_item_data in self.category_mask:
                category_mask_type_1_item = category_mask_type_1_item_data.value
                category_mask.append(category_mask_type_1_item)


        else:
            category_mask = self.category_mask

        cgroup: None | str | Unset
        if isinstance(self.cgroup, Unset):
            cgroup = UNSET
        else:
            cgroup = self.cgroup

        container_id: None | str | Unset
        if isinstance(self.container_id, Unset):
            container_id = UNSET
        else:
            container_id = self.container_id

        end: int | None | str | Unset
        if isinstance(self.end, Unset):
            end = UNSET
        else:
            end = self.end

        flags: int | list[str] | Unset
        if isinstance(self.flags, Unset):
            flags = UNSET
        elif isinstance(self.flags, list):
            flags = []
            for flags_type_1_item_data in self.flags:
                flags_type_1_item = flags_type_1_item_data.value
                flags.append(flags_type_1_item)


        else:
            flags = self.flags

        max_pages = self.max_pages

        pid: int | None | Unset
        if isinstance(self.pid, Unset):
            pid = UNSET
        else:
            pid = self.pid

        pod_uid: None | str | Unset
        if isinstance(self.pod_uid, Unset):
            pod_uid = UNSET
        else:
            pod_uid = self.pod_uid

        return_mask: int | list[str] | None | Unset
        if isinstance(self.return_mask, Unset):
            return_mask = UNSET
        elif isinstance(self.return_mask, list):
            return_mask = []
            for return_mask_type_1_item_data in self.return_mask:
                return_mask_type_1_item = return_mask_type_1_item_data.value
                return_mask.append(return_mask_type_1_item)


        else:
            return_mask = self.return_mask

        start: int | None | str | Unset
        if isinstance(self.start, Unset):
            start = UNSET
        else:
            start = self.start

        vec_len: int | None | Unset
        if isinstance(self.vec_len, Unset):
            vec_len = UNSET
        else:
            vec_len = self.vec_len


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if backend is not UNSET:
            field_dict["backend"] = backend
        if by_vma is not UNSET:
            field_dict["by_vma"] = by_vma
        if category_anyof_mask is not UNSET:
            field_dict["category_anyof_mask"] = category_anyof_mask
        if category_inverted is not UNSET:
            field_dict["category_inverted"] = category_inverted
        if category_mask is not UNSET:
            field_dict["category_mask"] = category_mask
        if cgroup is not UNSET:
            field_dict["cgroup"] = cgroup
        if container_id is not UNSET:
            field_dict["container_id"] = container_id
        if end is not UNSET:
            field_dict["end"] = end
        if flags is not UNSET:
            field_dict["flags"] = flags
        if max_pages is not UNSET:
            field_dict["max_pages"] = max_pages
        if pid is not UNSET:
            field_dict["pid"] = pid
        if pod_uid is not UNSET:
            field_dict["pod_uid"] = pod_uid
        if return_mask is not UNSET:
            field_dict["return_mask"] = return_mask
        if start is not UNSET:
            field_dict["start"] = start
        if vec_len is not UNSET:
            field_dict["vec_len"] = vec_len

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        _backend = d.pop("backend", UNSET)
        backend: SummaryRequestBackend | Unset
        if isinstance(_backend,  Unset):
            backend = UNSET
        else:
            backend = SummaryRequestBackend(_backend)




        by_vma = d.pop("by_vma", UNSET)

        def _parse_category_anyof_mask(data: object) -> int | list[SummaryRequestCategoryAnyofMaskType1Item] | Unset:
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                category_anyof_mask_type_1 = []
                _category_anyof_mask_type_1 = data
                for category_anyof_mask_type_1_item_data in (_category_anyof_mask_type_1):
                    category_anyof_mask_type_1_item = SummaryRequestCategoryAnyofMaskType1Item(category_anyof_mask_type_1_item_data)



                    category_anyof_mask_type_1.append(category_anyof_mask_type_1_item)

                return category_anyof_mask_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(int | list[SummaryRequestCategoryAnyofMaskType1Item] | Unset, data)

        category_anyof_mask = _parse_category_anyof_mask(d.pop("category_anyof_mask", UNSET))


        def _parse_category_inverted(data: object) -> int | list[SummaryRequestCategoryInvertedType1Item] | Unset:
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                category_inverted_type_1 = []
                _category_inverted_type_1 = data
                for category_inverted_type_1_item_data in (_category_inverted_type_1):
                    category_inverted_type_1_item = SummaryRequestCategoryInvertedType1Item(category_inverted_type_1_item_data)



                    category_inverted_type_1.append(category_inverted_type_1_item)

                return category_inverted_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(int | list[SummaryRequestCategoryInvertedType1Item] | Unset, data)

        category_inverted = _parse_category_inverted(d.pop("category_inverted", UNSET))


        def _parse_category_mask(data: object) -> int | list[SummaryRequestCategoryMaskType1Item] | Unset:
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                category_mask_type_1 = []
                _category_mask_type_1 = data
                for category_mask_type_1_item_data in (_category_mask_type_1):
                    category_mask_type_1_item = SummaryRequestCategoryMaskType1Item(category_mask_type_1_item_data)



                    category_mask_type_1.append(category_mask_type_1_item)

                return category_mask_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(int | list[SummaryRequestCategoryMaskType1Item] | Unset, data)

        category_mask = _parse_category_mask(d.pop("category_mask", UNSET))


        def _parse_cgroup(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        cgroup = _parse_cgroup(d.pop("cgroup", UNSET))


        def _parse_container_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        container_id = _parse_container_id(d.pop("container_id", UNSET))


        def _parse_end(data: object) -> int | None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | str | Unset, data)

        end = _parse_end(d.pop("end", UNSET))


        def _parse_flags(data: object) -> int | list[SummaryRequestFlagsType1Item] | Unset:
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                flags_type_1 = []
                _flags_type_1 = data
                for flags_type_1_item_data in (_flags_type_1):
                    flags_type_1_item = SummaryRequestFlagsType1Item(flags_type_1_item_data)



                    flags_type_1.append(flags_type_1_item)

                return flags_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(int | list[SummaryRequestFlagsType1Item] | Unset, data)

        flags = _parse_flags(d.pop("flags", UNSET))


        max_pages = d.pop("max_pages", UNSET)

        def _parse_pid(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        pid = _parse_pid(d.pop("pid", UNSET))


        def _parse_pod_uid(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        pod_uid = _parse_pod_uid(d.pop("pod_uid", UNSET))


        def _parse_return_mask(data: object) -> int | list[SummaryRequestReturnMaskType1Item] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                return_mask_type_1 = []
                _return_mask_type_1 = data
                for return_mask_type_1_item_data in (_return_mask_type_1):
                    return_mask_type_1_item = SummaryRequestReturnMaskType1Item(return_mask_type_1_item_data)



                    return_mask_type_1.append(return_mask_type_1_item)

                return return_mask_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(int | list[SummaryRequestReturnMaskType1Item] | None | Unset, data)

        return_mask = _parse_return_mask(d.pop("return_mask", UNSET))


        def _parse_start(data: object) -> int | None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | str | Unset, data)

        start = _parse_start(d.pop("start", UNSET))


        def _parse_vec_len(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        vec_len = _parse_vec_len(d.pop("vec_len", UNSET))


        summary_request = cls(
            backend=backend,
            by_vma=by_vma,
            category_anyof_mask=category_anyof_mask,
            category_inverted=category_inverted,
            category_mask=category_mask,
            cgroup=cgroup,
            container_id=container_id,
            end=end,
            flags=flags,
            max_pages=max_pages,
            pid=pid,
            pod_uid=pod_uid,
            return_mask=return_mask,
            start=start,
            vec_len=vec_len,
        )

        return summary_request

