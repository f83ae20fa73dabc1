"""What the deployment artifacts under deploy/ must agree on, stated once for all their tests."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"

# The capabilities the server needs, in the kernel's names: CAP_SYS_PTRACE for the ptrace-read check of
# opening another process's /proc/PID/pagemap, CAP_DAC_READ_SEARCH for that file's mode (0400),
# CAP_DAC_OVERRIDE for /proc/PID/clear_refs (0200). Each artifact lists them in one place of its own.
CAPABILITIES = frozenset({"CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH", "CAP_DAC_OVERRIDE"})

PORT = 6716

# The server's settings (environment variables) that the artifacts may set.
SETTINGS = frozenset(
    {
        "PMSCAN_HOST",
        "PMSCAN_PORT",
        "PMSCAN_UDS",
        "PMSCAN_AUTH",
        "PMSCAN_TOKEN_FILE",
        "PMSCAN_TLS_CERT",
        "PMSCAN_TLS_KEY",
        "PMSCAN_WORKERS",
        "PMSCAN_AUDIT_LOG",
        "PMSCAN_LOG_LEVEL",
    }
)

# The uid of the process the privilege tests inspect, and the uid the agent runs as there: two
# unprivileged users that are neither root nor each other.
TARGET_UID = 4242
AGENT_UID = 4243
