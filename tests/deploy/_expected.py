"""What the deployment artifacts under deploy/ must agree on, stated once for all their tests."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"

# The capabilities the server needs, in the kernel's names, and no more: CAP_SYS_PTRACE for the
# ptrace-read check of opening another process's /proc/PID/pagemap and /proc/PID/maps, CAP_DAC_OVERRIDE
# for the file modes of /proc/PID/pagemap (0400) and /proc/PID/clear_refs (0200). CAP_DAC_READ_SEARCH
# would add nothing: CAP_DAC_OVERRIDE passes read permission checks too. tests/security/
# test_least_privilege.py proves with the real server that this set is minimal (either one fewer
# answers 403). Each artifact lists them in one place of its own.
CAPABILITIES = frozenset({"CAP_SYS_PTRACE", "CAP_DAC_OVERRIDE"})

PORT = 6716

# The server's settings (environment variables) that the artifacts may set.
SETTINGS = frozenset(
    {
        "PMSCAN_HOST",
        "PMSCAN_PORT",
        "PMSCAN_UDS",
        "PMSCAN_UDS_GROUP",
        "PMSCAN_UDS_PEER_AUTH",
        "PMSCAN_AUTH",
        "PMSCAN_TOKEN_FILE",
        "PMSCAN_TLS_CERT",
        "PMSCAN_TLS_KEY",
        "PMSCAN_WORKERS",
        "PMSCAN_QUEUE_LIMIT",
        "PMSCAN_QUEUE_SECONDS",
        "PMSCAN_DENY_PIDS",
        "PMSCAN_AUDIT_LOG",
        "PMSCAN_LOG_LEVEL",
    }
)

# The uid of the process the privilege tests inspect, and the uid the agent runs as there: two
# unprivileged users that are neither root nor each other.
TARGET_UID = 4242
AGENT_UID = 4243
