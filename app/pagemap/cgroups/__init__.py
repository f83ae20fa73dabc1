"""Control groups: which processes a cgroup holds, and which container a process is in.

A cgroup is named as the host names it (:mod:`.spec`): ``/PATH`` in the unified (v2) hierarchy,
``CONTROLLER:/PATH`` in a v1 one. Membership is read from ``/proc/PID/cgroup``, so it needs no
mount, and its paths are translated to the host's when pmscan runs in a private cgroup
namespace (:mod:`.namespace`, which also places a cgroup in the mounts visible here,
:mod:`.mounts`); a container, and its pod, is recognized from those paths
(:mod:`.containers`).
"""

from .containers import (
    CONTAINER_ID_PREFIX,
    RUNTIMES,
    Container,
    ContainerSelector,
    container_of,
    find_container,
    parse_container_id,
    parse_container_path,
    parse_pod_uid,
)
from .namespace import CgroupNamespace, cgroup_directory, check_exists, namespace, read_memberships
from .spec import CgroupSpec, contains, parse_cgroup

__all__ = [
    "CONTAINER_ID_PREFIX",
    "RUNTIMES",
    "CgroupNamespace",
    "CgroupSpec",
    "Container",
    "ContainerSelector",
    "cgroup_directory",
    "check_exists",
    "container_of",
    "contains",
    "find_container",
    "namespace",
    "parse_cgroup",
    "parse_container_id",
    "parse_container_path",
    "parse_pod_uid",
    "read_memberships",
]
