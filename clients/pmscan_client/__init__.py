"""pmscan_client: the page states of processes on pmscan nodes, from Python or the shell.

    from pmscan_client import Category, Client

    with Client("http://127.0.0.1:6716") as node:
        for region in node.scan(1234, category_mask=Category.PRESENT):
            print(hex(region.start), hex(region.end), region.categories)

``Client`` / ``AsyncClient`` talk to one node, ``FleetClient`` to many; errors are the
exceptions below, one per HTTP status (the server's names). The generated OpenAPI client
lies underneath in ``pmscan_client._generated``.
"""

from ._categories import Category, ScanFlag
from ._client import AsyncClient, Client
from ._connection import DEFAULT_URL, Connection
from ._errors import (
    AccessDenied,
    Busy,
    IncompleteResponse,
    InvalidRequest,
    NotAcceptable,
    NotWPAsync,
    PayloadTooLarge,
    PmscanError,
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
from ._fleet import FleetClient, FleetResult, FleetSummary, discover_nodes
from ._generated.models import Capabilities, MappingInfo, ProcessInfo
from ._models import PageRegion, Summary, VmaSummary
from ._retry import RetryPolicy
from ._scan import AsyncScanStream, ScanStream
from ._watch import WatchTick

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
    "FleetClient",
    "FleetResult",
    "FleetSummary",
    "IncompleteResponse",
    "InvalidRequest",
    "MappingInfo",
    "NotAcceptable",
    "NotWPAsync",
    "PageRegion",
    "PayloadTooLarge",
    "PmscanError",
    "ProcessGone",
    "ProcessInfo",
    "ProcessNotFound",
    "RetryPolicy",
    "ScanFlag",
    "ScanStream",
    "ScanTimeout",
    "ServerError",
    "Summary",
    "Timeout",
    "TransportError",
    "Unauthenticated",
    "Unsupported",
    "UnsupportedMediaType",
    "VmaSummary",
    "WatchTick",
    "discover_nodes",
]
