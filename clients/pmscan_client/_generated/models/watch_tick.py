from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.watch_tick_categories import WatchTickCategories





T = TypeVar("T", bound="WatchTick")



@_attrs_define
class WatchTick:
    """ One NDJSON line of ``/watch``: the counts ``/summary`` would give at that moment.

        Attributes:
            categories (WatchTickCategories):
            late (bool): the tick's scan was still running when the next tick was due
            pages (int):
            tick (int): 0, 1, …: tick i was due at the start + i x interval_seconds
            time (float): when this tick's scan began (UNIX seconds)
            processes (int | None | Unset): a workload's tick: the processes it counted (those the workload had then)
            skipped (int | None | Unset): a workload's tick: the processes it left out (exited meanwhile, or refused)
     """

    categories: WatchTickCategories
    late: bool
    pages: int
    tick: int
    time: float
    processes: int | None | Unset = UNSET
    skipped: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.watch_tick_categories import WatchTickCategories # noqa: PLC0415
        categories = self.categories.to_dict()

        late = self.late

        pages = self.pages

        tick = self.tick

        time = self.time

        processes: int | None | Unset
        if isinstance(self.processes, Unset):
            processes = UNSET
        else:
            processes = self.processes

        skipped: int | None | Unset
        if isinstance(self.skipped, Unset):
            skipped = UNSET
        else:
            skipped = self.skipped


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "categories": categories,
            "late": late,
            "pages": pages,
            "tick": tick,
            "time": time,
        })
        if processes is not UNSET:
            field_dict["processes"] = processes
        if skipped is not UNSET:
            field_dict["skipped"] = skipped

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.watch_tick_categories import WatchTickCategories # noqa: PLC0415
        d = dict(src_dict)
        categories = WatchTickCategories.from_dict(d.pop("categories"))




        late = d.pop("late")

        pages = d.pop("pages")

        tick = d.pop("tick")

        time = d.pop("time")

        def _parse_processes(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        processes = _parse_processes(d.pop("processes", UNSET))


        def _parse_skipped(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        skipped = _parse_skipped(d.pop("skipped", UNSET))


        watch_tick = cls(
            categories=categories,
            late=late,
            pages=pages,
            tick=tick,
            time=time,
            processes=processes,
            skipped=skipped,
        )


        watch_tick.additional_properties = d
        return watch_tick

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
