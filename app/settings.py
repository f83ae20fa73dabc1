"""Settings from ``PMSCAN_*`` environment variables, with safe defaults."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .export.count import DEFAULT_SPAN_BYTES
from .export.groups import ProcessGroup, parse_groups
from .pagemap.categories import Category
from .pagemap.scanner import DEFAULT_CHUNK_RECORDS

__all__ = ["DEFAULT_EXPORT_CATEGORIES", "Settings", "default_token_file", "parse_categories"]

#: What the exporter counts unless told otherwise: what the page tables alone answer (README,
#: "Exporting to Prometheus": FILE costs a page lookup per present page).
DEFAULT_EXPORT_CATEGORIES = "present,swapped,huge,pfnzero"


def default_token_file() -> Path:
    """Root keeps tokens in /var/lib/pmscan; anyone else under their XDG state dir."""
    if os.geteuid() == 0:
        return Path("/var/lib/pmscan/tokens")
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "pmscan" / "tokens"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PMSCAN_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=6716, ge=0, le=65535)
    uds: Path | None = Field(default=None, description="listen on this Unix socket instead of TCP")
    uds_group: str | None = Field(default=None, description="group (name or gid) of the socket, mode 0660")
    uds_peer_auth: Literal["on", "off"] = Field(
        default="off", description="socket clients without a token: root may scan all, others their own"
    )
    auth: Literal["on", "off"] = "on"
    token_file: Path = Field(default_factory=default_token_file)
    tls_cert: Path | None = None
    tls_key: Path | None = None

    workers: int = Field(default_factory=lambda: max(2, 2 * (os.cpu_count() or 1)), ge=1, le=256)
    queue_limit: int = Field(
        default=64, ge=0, le=65536, description="requests that may wait for a busy scan worker (0: none)"
    )
    queue_seconds: float = Field(
        default=1.0, gt=0, le=60, description="how long a request waits for a scan worker before 503"
    )
    chunk_records: int = Field(default=DEFAULT_CHUNK_RECORDS, ge=1, le=1 << 20)
    json_max_regions: int = Field(default=262_144, ge=1)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    scan_timeout_seconds: float = Field(default=300.0, gt=0)
    watch_max_seconds: float = Field(
        default=3600.0, gt=0, description="the longest /watch: count x interval_seconds at most this"
    )
    shutdown_grace_seconds: int = Field(
        default=10, ge=1, le=3600, description="on SIGTERM: how long running requests may take to finish"
    )
    retry_after_seconds: int = Field(default=1, ge=1)
    deny_pids: list[int] = Field(default_factory=list)
    audit_log: str | None = Field(default="-", description='a path, "-" for stderr, empty for none')
    log_level: str = "info"

    # Page-state metrics on /metrics (app.export.collector). Groups and categories are text (a JSON
    # object, a comma-separated list), checked here so that bad ones stop the server at start-up.
    export_groups: str = Field(
        default="{}", description='JSON: group name -> {"comm"|"exe"|"cmdline": REGEX} or {"cgroup": PATH}'
    )
    export_categories: str = Field(
        default=DEFAULT_EXPORT_CATEGORIES, description="page categories exported, comma-separated"
    )
    export_max_age_seconds: float = Field(
        default=10.0, ge=0, le=3600, description="how old exported values may be (0: scan on every scrape)"
    )
    export_budget_seconds: float = Field(
        default=5.0, gt=0, le=300, description="time one collection may take; the rest is reported missing"
    )
    export_concurrency: int = Field(
        default=2, ge=1, le=256, description="scan workers one collection may use at once"
    )
    export_span_bytes: int = Field(
        default=DEFAULT_SPAN_BYTES,
        ge=4096,
        description="bytes of pages of the exported categories one kernel call reports, at most",
    )
    export_containers: bool = Field(default=False, description="per-container series (from cgroup paths)")
    export_containers_max: int = Field(
        default=1000, ge=1, le=100_000, description="containers exported at most; the rest counted as dropped"
    )

    @field_validator("export_groups")
    @classmethod
    def _check_groups(cls, value: str) -> str:
        try:
            parse_groups(value)
        except ValueError as err:
            raise ValueError(f"PMSCAN_EXPORT_GROUPS: {err}") from None
        return value

    @field_validator("export_categories")
    @classmethod
    def _check_categories(cls, value: str) -> str:
        try:
            parse_categories(value)
        except ValueError as err:
            raise ValueError(f"PMSCAN_EXPORT_CATEGORIES: {err}") from None
        return value

    @property
    def groups(self) -> tuple[ProcessGroup, ...]:
        return parse_groups(self.export_groups)

    @property
    def categories(self) -> Category:
        return parse_categories(self.export_categories)

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if self.uds is None and self.auth == "off" and not _is_loopback(self.host):
            raise ValueError(
                f"refusing to listen on {self.host} without authentication: "
                "set PMSCAN_AUTH=on (the default) or listen on a loopback address"
            )
        if self.uds_peer_auth == "on" and self.uds is None:
            raise ValueError("PMSCAN_UDS_PEER_AUTH=on needs PMSCAN_UDS (peers exist on a Unix socket only)")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("PMSCAN_TLS_CERT and PMSCAN_TLS_KEY go together")
        return self


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_categories(text: str) -> Category:
    """Category names, comma-separated (any case), as a mask; ``ValueError`` naming an unknown one."""
    mask = Category(0)
    for name in (n.strip() for n in text.split(",")):
        if not name:
            continue
        try:
            mask |= Category[name.upper()]
        except KeyError:
            known = ", ".join(c.name.lower() for c in Category if c.name)
            raise ValueError(f"unknown category {name!r}; known: {known}") from None
    return mask
