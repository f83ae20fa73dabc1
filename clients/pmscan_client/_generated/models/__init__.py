""" Contains all the data models used in inputs/outputs """

from .capabilities import Capabilities
from .capabilities_categories_item import CapabilitiesCategoriesItem
from .capabilities_limits import CapabilitiesLimits
from .cgroup_summary_response import CgroupSummaryResponse
from .cgroup_summary_response_categories import CgroupSummaryResponseCategories
from .container_info import ContainerInfo
from .container_info_qos import ContainerInfoQos
from .container_info_runtime import ContainerInfoRuntime
from .error_body import ErrorBody
from .error_detail import ErrorDetail
from .healthz_response_4xx import HealthzResponse4XX
from .healthz_response_healthz import HealthzResponseHealthz
from .http_validation_error import HTTPValidationError
from .list_containers_runtime_type_0 import ListContainersRuntimeType0
from .mapping_info import MappingInfo
from .process_info import ProcessInfo
from .readyz_response_4xx import ReadyzResponse4XX
from .readyz_response_readyz import ReadyzResponseReadyz
from .region import Region
from .region_categories_item import RegionCategoriesItem
from .scan_document import ScanDocument
from .scan_request import ScanRequest
from .scan_request_backend import ScanRequestBackend
from .scan_request_category_anyof_mask_type_1_item import ScanRequestCategoryAnyofMaskType1Item
from .scan_request_category_inverted_type_1_item import ScanRequestCategoryInvertedType1Item
from .scan_request_category_mask_type_1_item import ScanRequestCategoryMaskType1Item
from .scan_request_flags_type_1_item import ScanRequestFlagsType1Item
from .scan_request_return_mask_type_1_item import ScanRequestReturnMaskType1Item
from .scan_trailer import ScanTrailer
from .skipped_process import SkippedProcess
from .summary_request import SummaryRequest
from .summary_request_backend import SummaryRequestBackend
from .summary_request_category_anyof_mask_type_1_item import SummaryRequestCategoryAnyofMaskType1Item
from .summary_request_category_inverted_type_1_item import SummaryRequestCategoryInvertedType1Item
from .summary_request_category_mask_type_1_item import SummaryRequestCategoryMaskType1Item
from .summary_request_flags_type_1_item import SummaryRequestFlagsType1Item
from .summary_request_return_mask_type_1_item import SummaryRequestReturnMaskType1Item
from .summary_response import SummaryResponse
from .summary_response_categories import SummaryResponseCategories
from .validation_error import ValidationError
from .validation_error_context import ValidationErrorContext
from .vma_summary import VmaSummary
from .vma_summary_categories import VmaSummaryCategories
from .watch_request import WatchRequest
from .watch_request_backend import WatchRequestBackend
from .watch_request_category_anyof_mask_type_1_item import WatchRequestCategoryAnyofMaskType1Item
from .watch_request_category_inverted_type_1_item import WatchRequestCategoryInvertedType1Item
from .watch_request_category_mask_type_1_item import WatchRequestCategoryMaskType1Item
from .watch_request_flags_type_1_item import WatchRequestFlagsType1Item
from .watch_request_return_mask_type_1_item import WatchRequestReturnMaskType1Item
from .watch_tick import WatchTick
from .watch_tick_categories import WatchTickCategories
from .watch_trailer import WatchTrailer
from .workload_summary_response import WorkloadSummaryResponse
from .workload_summary_response_categories import WorkloadSummaryResponseCategories

__all__ = (
    "Capabilities",
    "CapabilitiesCategoriesItem",
    "CapabilitiesLimits",
    "CgroupSummaryResponse",
    "CgroupSummaryResponseCategories",
    "ContainerInfo",
    "ContainerInfoQos",
    "ContainerInfoRuntime",
    "ErrorBody",
    "ErrorDetail",
    "HealthzResponse4XX",
    "HealthzResponseHealthz",
    "HTTPValidationError",
    "ListContainersRuntimeType0",
    "MappingInfo",
    "ProcessInfo",
    "ReadyzResponse4XX",
    "ReadyzResponseReadyz",
    "Region",
    "RegionCategoriesItem",
    "ScanDocument",
    "ScanRequest",
    "ScanRequestBackend",
    "ScanRequestCategoryAnyofMaskType1Item",
    "ScanRequestCategoryInvertedType1Item",
    "ScanRequestCategoryMaskType1Item",
    "ScanRequestFlagsType1Item",
    "ScanRequestReturnMaskType1Item",
    "ScanTrailer",
    "SkippedProcess",
    "SummaryRequest",
    "SummaryRequestBackend",
    "SummaryRequestCategoryAnyofMaskType1Item",
    "SummaryRequestCategoryInvertedType1Item",
    "SummaryRequestCategoryMaskType1Item",
    "SummaryRequestFlagsType1Item",
    "SummaryRequestReturnMaskType1Item",
    "SummaryResponse",
    "SummaryResponseCategories",
    "ValidationError",
    "ValidationErrorContext",
    "VmaSummary",
    "VmaSummaryCategories",
    "WatchRequest",
    "WatchRequestBackend",
    "WatchRequestCategoryAnyofMaskType1Item",
    "WatchRequestCategoryInvertedType1Item",
    "WatchRequestCategoryMaskType1Item",
    "WatchRequestFlagsType1Item",
    "WatchRequestReturnMaskType1Item",
    "WatchTick",
    "WatchTickCategories",
    "WatchTrailer",
    "WorkloadSummaryResponse",
    "WorkloadSummaryResponseCategories",
)
