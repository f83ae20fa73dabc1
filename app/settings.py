"""Settings from ``PMSCAN_*`` environment variables, with safe defaults."""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from .export.count import DEFAULT_SPAN_BYTES
from .export.groups import ProcessGroup, parse_groups
from .pagemap.categories import Category
from .pagemap.scanner import DEFAULT_CHUNK_RECORDS

__all__ = [
    "DEFAULT_EXPORT_CATEGORIES",
    "InvalidSettings",
    "Settings",
    "allowed",
    "default_token_file",
    "parse_categories",
    "variable",
]

#: What the exporter counts unless told otherwise: what the page tables alone answer
#: (docs/exporter.md, "Cost and limits": FILE costs a page lookup per present page).
DEFAULT_EXPORT_CATEGORIES = "present,swapped,huge,pfnzero"


def default_token_file() -> Path:
    """Root keeps tokens in /var/lib/pmscan; anyone else under their XDG state dir."""
    if os.geteuid() == 0:
        return Path("/var/lib/pmscan/tokens")
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "pmscan" / "tokens"


class Settings(BaseSettings):
    """The server's settings, each from the ``PMSCAN_<NAME>`` environment variable.

    Every field's ``description`` says what it means (docs/configuration.md is generated from
    them: ``make docs``); ``default_text`` in ``json_schema_extra`` stands for a default computed at
    start-up. :meth:`from_environment` is how the server reads them.
    """

    model_config = SettingsConfigDict(env_prefix="PMSCAN_", extra="ignore")

    host: str = Field(
        default="127.0.0.1",
        description="the address to listen on; a non-loopback address needs `PMSCAN_AUTH=on`",
        json_schema_extra={"allowed_text": "an IP address or a host name"},
    )
    port: int = Field(default=6716, ge=0, le=65535, description="the TCP port to listen on")
    uds: Path | None = Field(
        default=None, description="listen on this Unix socket instead of TCP (mode 0660)"
    )
    uds_group: str | None = Field(
        default=None,
        description="the Unix socket's group; unset: the server's group",
        json_schema_extra={"allowed_text": "a group name or a gid"},
    )
    uds_peer_auth: Literal["on", "off"] = Field(
        default="off",
        description="identify Unix-socket clients without a token by `SO_PEERCRED`: root may scan "
        "every process, any other uid only its own (needs `PMSCAN_UDS`)",
    )
    auth: Literal["on", "off"] = Field(
        default="on",
        description="bearer tokens on every route but `/healthz` and `/readyz`; `off` only for "
        "local development and tests (the server logs a warning)",
    )
    token_file: Path = Field(
        default_factory=default_token_file,
        description="the tokens: `NAME SCOPES sha256:HEX` lines, hashes only, re-read when the file "
        "changes; created with an admin token (written beside it, to `FILE.admin`) on the first start",
        json_schema_extra={
            "default_text": "`/var/lib/pmscan/tokens` as root, else "
            "`$XDG_STATE_HOME/pmscan/tokens` (`~/.local/state/pmscan/tokens`)"
        },
    )
    tls_cert: Path | None = Field(
        default=None, description="serve HTTPS with this certificate (PEM); with `PMSCAN_TLS_KEY`"
    )
    tls_key: Path | None = Field(
        default=None, description="the certificate's private key (PEM); with `PMSCAN_TLS_CERT`"
    )

    workers: int = Field(
        default_factory=lambda: max(2, 2 * (os.cpu_count() or 1)),
        ge=1,
        le=256,
        description="scans that run at once (scan threads)",
        json_schema_extra={"default_text": "twice the CPUs, at least 2"},
    )
    queue_limit: int = Field(
        default=64,
        ge=0,
        le=65536,
        description="requests that may wait for a busy scan worker (0: none); more get `503`",
    )
    queue_seconds: float = Field(
        default=1.0, gt=0, le=60, description="how long a request waits for a scan worker before `503`"
    )
    retry_after_seconds: int = Field(
        default=1, ge=1, description="the `Retry-After` header of a `503 BUSY` answer, in seconds"
    )
    chunk_records: int = Field(
        default=DEFAULT_CHUNK_RECORDS,
        ge=1,
        le=1 << 20,
        description="regions per kernel call and per chunk of a streamed answer (24 bytes each)",
    )
    json_max_regions: int = Field(
        default=262_144,
        ge=1,
        description="the most regions one `application/json` answer carries (more: `413`, stream instead)",
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="the largest request body, in bytes (more: `413`)"
    )
    scan_timeout_seconds: float = Field(
        default=300.0, gt=0, description="a scan's time limit (`504`, or an `ETIMEDOUT` line in a stream)"
    )
    watch_max_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="the longest `/watch`: `count` times `interval_seconds` at most this",
    )
    shutdown_grace_seconds: int = Field(
        default=10,
        ge=1,
        le=3600,
        description="on SIGTERM, the server exits within this time: streams still running after "
        "half of it end with an `ESHUTDOWN` line, connections still open at three quarters of it are closed",
    )
    deny_pids: list[int] = Field(
        default_factory=list,
        description="more processes never to touch (`403 DENIED`); pmscan itself is never touched",
    )
    audit_log: str | None = Field(
        default="-",
        description="the audit log: one JSON line per request that touches a process or is refused",
        json_schema_extra={"allowed_text": "a path, `-` for stderr, or empty for none"},
    )
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = Field(
        default="info", description="the server log's level (the audit log is separate)"
    )

    # Page-state metrics on /metrics (app.export.collector). Groups and categories are text (a JSON
    # object, a comma-separated list), checked here so that bad ones stop the server at start-up.
    export_groups: str = Field(
        default="{}",
        description="process groups to export, each with one matcher: a regex that must match the "
        "whole `comm`, `exe` or `cmdline`, or a cgroup the process is in or below; a process counts "
        "in the first group it matches",
        json_schema_extra={
            "allowed_text": 'a JSON object: name → `{"comm"|"exe"|"cmdline": REGEX}` or `{"cgroup": PATH}`'
        },
    )
    export_categories: str = Field(
        default=DEFAULT_EXPORT_CATEGORIES,
        description="the page categories exported",
        json_schema_extra={
            "allowed_text": "category names, comma-separated, any case: "
            + ", ".join(c.name.lower() for c in Category if c.name)
        },
    )
    export_max_age_seconds: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="how old exported values may be (0: count on every scrape)",
    )
    export_budget_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="the time one collection may take (keep it under the scrape timeout); "
        "what it could not count is reported as missing",
    )
    export_concurrency: int = Field(
        default=2,
        ge=1,
        le=256,
        description="scan workers one collection uses at most (never more than `PMSCAN_WORKERS`)",
    )
    export_span_bytes: int = Field(
        default=DEFAULT_SPAN_BYTES,
        ge=4096,
        description="the bytes of pages of the exported categories one kernel call reports, at most: "
        "it bounds each hold of a target's mmap lock",
    )
    export_containers: bool = Field(
        default=False, description="per-container series, labelled from cgroup paths"
    )
    export_containers_max: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="containers exported at most; the others are counted as dropped",
    )

    @field_validator("export_groups")
    @classmethod
    def _check_groups(cls, value: str) -> str:
        try:
            parse_groups(value)
        except ValueError as err:
            expected = allowed("export_groups").replace("`", "")
            raise ValueError(f"PMSCAN_EXPORT_GROUPS: {err} (expected {expected})") from None
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

    @classmethod
    def from_environment(cls) -> Settings:
        """The settings of the ``PMSCAN_*`` variables; :class:`InvalidSettings` when any is bad."""
        try:
            return cls()
        except ValidationError as err:
            raise InvalidSettings(_problems(err)) from None
        except SettingsError as err:  # a JSON-valued variable that is not JSON
            raise InvalidSettings([_unparsable(err)]) from None

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


class InvalidSettings(ValueError):
    """Settings the server cannot start with. ``lines``: one per bad variable, each naming the
    variable, its value and what is allowed (or, for a bad combination, the variables involved)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def variable(name: str) -> str:
    """The environment variable of the field ``name``."""
    return f"PMSCAN_{name.upper()}"


def allowed(name: str) -> str:
    """What the field ``name`` accepts, in words: ``"an integer from 0 to 65535"``, ``"on or off"``
    (its ``allowed_text`` where the type alone would say only "text")."""
    field = Settings.model_fields[name]
    if isinstance(field.json_schema_extra, dict) and "allowed_text" in field.json_schema_extra:
        return str(field.json_schema_extra["allowed_text"])
    kind = _kind(field.annotation)
    bounds = _bounds(field.metadata)
    return f"{kind} {bounds}" if bounds else kind


def _kind(annotation: Any) -> str:
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is Literal:
        names = [str(a) for a in args]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    if get_origin(annotation) in {Union, UnionType}:  # X | None: the variable unset means None
        return _kind(args[0])
    if get_origin(annotation) is list:
        return f"a JSON list of {_kind(args[0]).removeprefix('an ').removeprefix('a ')}s"
    kinds: dict[Any, str] = {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        Path: "a path",
        str: "text",
    }
    return kinds.get(annotation, str(annotation))


def _bounds(metadata: list[Any]) -> str:
    low = high = ""
    for constraint in metadata:
        if isinstance(constraint, annotated_types.Ge):
            low = _number(constraint.ge)
        elif isinstance(constraint, annotated_types.Gt):
            low = f"above {_number(constraint.gt)}"
        elif isinstance(constraint, annotated_types.Le):
            high = _number(constraint.le)
    if low and high:
        return f"from {low} to {high}" if not low.startswith("above") else f"{low}, at most {high}"
    if low:
        return low if low.startswith("above") else f"of at least {low}"
    return f"of at most {high}" if high else ""


def _number(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _value(name: str, fallback: object) -> str:
    """The variable's value as given (shell-quoted), else what pydantic was handed."""
    raw = os.environ.get(variable(name))
    if raw is None:
        for key, value in os.environ.items():  # the prefix is case-insensitive, as in pydantic-settings
            if key.upper() == variable(name):
                raw = value
    return shlex.quote(raw if raw is not None else str(fallback))


def _problems(err: ValidationError) -> list[str]:
    """One line per bad variable (pydantic may report several errors for one), then one per bad
    combination; pydantic's own wording, type names and links left out."""
    lines: dict[str, str] = {}
    for error in err.errors(include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:
            lines.setdefault(message, message)
            continue
        name = str(error["loc"][0])
        if name in lines or name not in Settings.model_fields:
            continue
        given = f"{variable(name)}={_value(name, error['input'])}"
        if error["type"] == "value_error":  # our validators: they say what is wrong and expected
            lines[name] = f"{given}: {message.removeprefix(variable(name) + ': ')}"
        else:
            lines[name] = f"{given}: must be {allowed(name)}"
    return list(lines.values())


def _unparsable(err: SettingsError) -> str:
    found = re.search(r'field "(\w+)"', str(err))
    if found is None or found.group(1) not in Settings.model_fields:
        return str(err)
    name = found.group(1)
    return f"{variable(name)}={_value(name, '')}: must be {allowed(name)}"


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
