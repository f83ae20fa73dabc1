"""The least privilege pmscan needs (kernel-notes 15), proven with the real server.

The server runs as ``nobody`` holding exactly a chosen set of capabilities (ambient, inheritable and
bounding sets, ``no_new_privs``: what systemd's ``AmbientCapabilities=`` gives a service) and is asked
about a process of yet another uid, for the three things it does to processes:

- **scan**: open ``/proc/PID/pagemap`` (mode 0400, owner the target's uid) and ``ioctl(PAGEMAP_SCAN)``,
  also with ``WP_MATCHING`` (the file is open for reading only, and that is all the ioctl needs);
- **maps**: read ``/proc/PID/maps`` (mode 0444, but a ptrace-read access check);
- **clear**: write ``4`` to ``/proc/PID/clear_refs`` (mode 0200, no ptrace check).

The target is also a root process with every capability, which adds nothing: ``CAP_SYS_PTRACE``
passes the check that the caller's capabilities include the target's.

The kernel checks two things. The file mode: another user's 0400 or 0200 file needs
``CAP_DAC_OVERRIDE`` (read and write), or for reading only ``CAP_DAC_READ_SEARCH``. The ptrace-read
access check (pagemap and maps, not clear_refs): ``CAP_SYS_PTRACE``. So the minimal set is
``CAP_SYS_PTRACE`` + ``CAP_DAC_OVERRIDE`` for all three, or ``CAP_SYS_PTRACE`` +
``CAP_DAC_READ_SEARCH`` for a read-only service; with either capability fewer, the operation that
needs it answers 403.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess, any_user_server_command
from tests.support.users import NOBODY, OTHER, as_user, running_as_root, sleeper

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not running_as_root(), reason="needs root to switch users and grant capabilities"),
]

PTRACE, OVERRIDE, READ_SEARCH = "CAP_SYS_PTRACE", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH"
#: The least privilege for everything pmscan does (scan, maps, clear-soft-dirty).
MINIMAL = frozenset({PTRACE, OVERRIDE})
#: The least privilege for a service that never writes (no clear-soft-dirty).
MINIMAL_READ_ONLY = frozenset({PTRACE, READ_SEARCH})
#: Capability numbers (include/uapi/linux/capability.h).
NUMBER = {OVERRIDE: 1, READ_SEARCH: 2, PTRACE: 19}


@pytest.fixture(scope="module")
def targets() -> Iterator[dict[str, int]]:
    """A process of a uid that is neither the server's nor root, and one of root."""
    with sleeper(OTHER) as other, sleeper() as root:
        yield {"other": other.pid, "root": root.pid}


def status(response: httpx.Response) -> int:
    if response.status_code == 403:  # the kernel's refusal, not pmscan's own
        assert response.json()["detail"]["code"] in ("EACCES", "EPERM"), response.text
    return response.status_code


def credentials(pid: int) -> tuple[str, int]:
    """The uid line and the effective capability set of ``pid``."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return fields["Uid"].split()[1], int(fields["CapEff"], 16)


def outcomes(capabilities: frozenset[str], targets: dict[str, int]) -> dict[str, int]:
    """The statuses of scan, maps and clear from a server of nobody holding ``capabilities``."""
    command, env = any_user_server_command()
    other = targets["other"]
    with (
        ServerProcess(
            auth="off", prefix=as_user(NOBODY, capabilities), command=command, process_env=env
        ) as server,
        server.client() as http,
    ):
        assert credentials(server.pid) == (str(NOBODY), sum(1 << NUMBER[c] for c in capabilities))
        return {
            "scan": status(http.post("/scan", json={"pid": other, "return_mask": ["PRESENT"]})),
            "maps": status(http.get(f"/processes/{other}/maps")),
            "clear": status(http.post(f"/processes/{other}/clear-soft-dirty")),
            "scan root": status(http.post("/scan", json={"pid": targets["root"]})),
            "write-protecting scan": status(
                http.post("/scan", json={"pid": other, "flags": ["WP_MATCHING"]})
            ),
        }


@pytest.mark.parametrize(
    ("capabilities", "expected"),
    [
        pytest.param(MINIMAL, (200, 200, 204), id="minimal"),
        pytest.param(MINIMAL_READ_ONLY, (200, 200, 403), id="minimal-read-only"),
        pytest.param(frozenset({OVERRIDE}), (403, 403, 204), id="minimal-without-sys_ptrace"),
        pytest.param(frozenset({PTRACE}), (403, 200, 403), id="minimal-without-dac_override"),
        pytest.param(frozenset(), (403, 403, 403), id="none"),
    ],
)
def test_capabilities(
    capabilities: frozenset[str], expected: tuple[int, int, int], targets: dict[str, int]
) -> None:
    scan, maps, clear = expected
    assert outcomes(capabilities, targets) == {
        "scan": scan,
        "maps": maps,
        "clear": clear,
        "scan root": scan,
        "write-protecting scan": scan,
    }
