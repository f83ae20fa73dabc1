from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.capabilities_categories_item import CapabilitiesCategoriesItem
from typing import cast

if TYPE_CHECKING:
  from ..models.capabilities_limits import CapabilitiesLimits





T = TypeVar("T", bound="Capabilities")



@_attrs_define
class Capabilities:
    """ 
        Attributes:
            backends (list[str]):
            categories (list[CapabilitiesCategoriesItem]):
            default_backend (str):
            kernel_release (str):
            limits (CapabilitiesLimits):
            page_size (int):
            pagemap_scan (bool):
            soft_dirty (bool):
            user_address_limit (int):
     """

    backends: list[str]
    categories: list[CapabilitiesCategoriesItem]
    default_backend: str
    kernel_release: str
    limits: CapabilitiesLimits
    page_size: int
    pagemap_scan: bool
    soft_dirty: bool
    user_address_limit: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.capabilities_limits import CapabilitiesLimits # noqa: PLC0415
        backends = self.backends



        categories = []
        for categories_item_data in self.categories:
            categories_item = categories_item_data.value
            categories.append(categories_item)



        default_backend = self.default_backend

        kernel_release = self.kernel_release

        limits = self.limits.to_dict()

        page_size = self.page_size

        pagemap_scan = self.pagemap_scan

        soft_dirty = self.soft_dirty

        user_address_limit = self.user_address_limit


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "backends": backends,
            "categories": categories,
            "default_backend": default_backend,
            "kernel_release": kernel_release,
            "limits": limits,
            "page_size": page_size,
            "pagemap_scan": pagemap_scan,
            "soft_dirty": soft_dirty,
            "user_address_limit": user_address_limit,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.capabilities_limits import CapabilitiesLimits # noqa: PLC0415
        d = dict(src_dict)
        backends = cast(list[str], d.pop("backends"))


        categories = []
        _categories = d.pop("categories")
        for categories_item_data in (_categories):
            categories_item = CapabilitiesCategoriesItem(categories_item_data)



            categories.append(categories_item)


        default_backend = d.pop("default_backend")

        kernel_release = d.pop("kernel_release")

        limits = CapabilitiesLimits.from_dict(d.pop("limits"))




        page_size = d.pop("page_size")

        pagemap_scan = d.pop("pagemap_scan")

        soft_dirty = d.pop("soft_dirty")

        user_address_limit = d.pop("user_address_limit")

        capabilities = cls(
            backends=backends,
            categories=categories,
            default_backend=default_backend,
            kernel_release=kernel_release,
            limits=limits,
            page_size=page_size,
            pagemap_scan=pagemap_scan,
            soft_dirty=soft_dirty,
            user_address_limit=user_address_limit,
        )


        capabilities.additional_properties = d
        return capabilities

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
