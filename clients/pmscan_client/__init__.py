"""pmscan_client: the page states of processes on pmscan nodes, from Python or the shell.

    from pmscan_client import Category, Client

    with Client("http://127.0.0.1:6716") as node:
        for region in node.scan(1234, category_mask=Category.PRESENT):
            print(hex(region.start), hex(region.end), region.categories)

``Client`` / ``AsyncClient`` talk to one node, ``FleetClient`` to many (and finds the node that
runs a pod or a container); errors are the
exceptions below, one per HTTP status (the server's names). ``Client.scan_records()`` returns
a whole answer as a ``RegionArray`` of the kernel's records, at the kernel's speed. The
generated OpenAPI client lies underneath in ``pmscan_client._generated``; none of its models is
part of this API.
"""

from ._categories import Category, ScanFlag
from ._client import AsyncClient, Client
from ._connection import DEFAULT_URL, Connection
from ._errors import (
    AccessDenied,
    Busy,
    ContainerNotFound,
    IncompleteResponse,
    InvalidRequest,
    NotAcceptable,
    NotWPAsync,
    PayloadTooLarge,
    PmscanError,
    PodNotFound,
    ProcessGone,
    ProcessNotFound,
    ScanTimeout,
    ServerError,
    Timeout,
    TransportError,
    Unauthenticated,
    Unsupported,
    UnsupportedMediaType,
)
from ._fleet import (
    FleetClient,
    FleetResult,
    FleetSummary,
    FleetWorkloadSummary,
    discover_nodes,
    distinct_nodes,
)
from ._models import (
    Capabilities,
    ContainerInfo,
    MappingInfo,
    PageRegion,
    ProcessInfo,
    SkippedProcess,
    Summary,
    VmaSummary,
    WorkloadSummary,
)
from ._regions import RegionArray
from ._retry import RetryPolicy
from ._scan import AsyncScanStream, ScanOptions, ScanStream, Selection
from ._watch_wire import WatchTick

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_URL",
    "AccessDenied",
    "AsyncClient",
    "AsyncScanStream",
    "Busy",
    "Capabilities",
    "Category",
    "Client",
    "Connection",
    "ContainerInfo",
    "ContainerNotFound",
    "FleetClient",
    "FleetResult",
    "FleetSummary",
    "FleetWorkloadSummary",
    "IncompleteResponse",
    "InvalidRequest",
    "MappingInfo",
    "NotAcceptable",
    "NotWPAsync",
    "PageRegion",
    "PayloadTooLarge",
    "PmscanError",
    "PodNotFound",
    "ProcessGone",
    "ProcessInfo",
    "ProcessNotFound",
    "RegionArray",
    "RetryPolicy",
    "ScanFlag",
    "ScanOptions",
    "ScanStream",
    "ScanTimeout",
    "Selection",
    "ServerError",
    "SkippedProcess",
    "Summary",
    "Timeout",
    "TransportError",
    "Unauthenticated",
    "Unsupported",
    "UnsupportedMediaType",
    "VmaSummary",
    "WatchTick",
    "WorkloadSummary",
    "discover_nodes",
    "distinct_nodes",
]
