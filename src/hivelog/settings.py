"""Every server setting as data: name, type, default, environment variable and help text.

The CLI builds its options from `SETTINGS`, and docs/settings.md is generated from it, so a
setting cannot exist without being documented.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str

    @property
    def env(self) -> str:
        return "HIVELOG_" + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def default_db() -> str:
    return str(Path.home() / ".hivelog" / "hivelog.db")


SETTINGS: tuple[Setting, ...] = (
    Setting("host", str, "127.0.0.1", "Interface to listen on."),
    Setting("port", int, 8080, "TCP port to listen on."),
    Setting(
        "db",
        str,
        None,
        "Database: a SQLite file path (default ~/.hivelog/hivelog.db) or a "
        "postgresql://user@host:5432/dbname URL.",
    ),
    Setting(
        "max_body_bytes",
        int,
        64 * 1024 * 1024,
        "Largest accepted request body, counted after decompression; larger bodies get 413.",
    ),
    Setting(
        "queue_events",
        int,
        200_000,
        "Events waiting for the writer before new writes get 503 + Retry-After.",
    ),
    Setting(
        "queue_bytes",
        int,
        256 * 1024 * 1024,
        "Request bytes waiting for the writer before new writes get 503 + Retry-After.",
    ),
    Setting("log_level", str, "info", "Server log level (debug, info, warning, error)."),
    Setting(
        "workers",
        int,
        1,
        "Server processes sharing the port (PostgreSQL only; SQLite allows one writer process).",
    ),
    Setting(
        "retention_days",
        int,
        0,
        "Delete sessions (with all their events) that started more than this many days ago; "
        "0 keeps everything.",
    ),
    # ---- auth and limits (docs/reliability.md says why each default) ----
    Setting(
        "insecure",
        bool,
        False,
        "Allow listening beyond loopback with no API key: anyone who can reach the port can "
        "read and write every project. Without it, such a server refuses to start.",
    ),
    Setting(
        "max_batch_events",
        int,
        10_000,
        "Most events (or spans) one request may carry; more get 413.",
    ),
    Setting(
        "max_field_bytes",
        int,
        1024 * 1024,
        "Longest string value stored (UTF-8 bytes); longer ones are cut, end with a marker, "
        "and metadata.hivelog_truncated records their original length.",
    ),
    Setting(
        "max_json_depth",
        int,
        64,
        "Deepest nesting of objects and lists inside an event's fields (at most 200); "
        "deeper gets 400.",
    ),
    Setting("max_filters", int, 50, "Most filters one query may have; more get 400."),
    Setting(
        "read_timeout_ms",
        int,
        10_000,
        "Time limit of one read query; a query stopped by it gets 400 query_timeout.",
    ),
    Setting(
        "max_connections",
        int,
        1000,
        "Open connections plus running requests before new requests get 503 "
        "(uvicorn limit_concurrency).",
    ),
    Setting(
        "keep_alive_seconds",
        int,
        15,
        "An idle keep-alive connection is closed after this many seconds.",
    ),
    Setting(
        "header_timeout_seconds",
        float,
        10.0,
        "A connection that has not sent a whole request head within this time is closed "
        "(slow clients, slowloris).",
    ),
    Setting(
        "body_timeout_seconds",
        float,
        30.0,
        "A request body that stalls this long between two chunks gets 408.",
    ),
    Setting(
        "max_header_bytes",
        int,
        64 * 1024,
        "Largest request head (request line and headers); larger gets 431 and the "
        "connection is closed.",
    ),
)


@dataclasses.dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    db: str | None = None
    max_body_bytes: int = 64 * 1024 * 1024
    queue_events: int = 200_000
    queue_bytes: int = 256 * 1024 * 1024
    log_level: str = "info"
    workers: int = 1
    retention_days: int = 0
    insecure: bool = False
    max_batch_events: int = 10_000
    max_field_bytes: int = 1024 * 1024
    max_json_depth: int = 64
    max_filters: int = 50
    read_timeout_ms: int = 10_000
    max_connections: int = 1000
    keep_alive_seconds: int = 15
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    max_header_bytes: int = 64 * 1024

    @property
    def db_path(self) -> str:
        return self.db or default_db()

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Defaults, then HIVELOG_* variables, then explicit non-None overrides."""
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = os.environ.get(setting.env)
            if raw is not None and raw != "":
                values[setting.name] = parse(setting, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def parse(setting: Setting, raw: str) -> Any:
    """A value from its text (environment): booleans as 1/0, true/false, yes/no, on/off."""
    if setting.type is bool:
        text = raw.strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{setting.env}={raw!r} is not a boolean (use 1/0, true/false)")
    return setting.type(raw)


def _check_settings_match() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(Settings)}
    declared = {s.name: s.default for s in SETTINGS}
    if fields != declared:  # pragma: no cover - guards edits
        raise RuntimeError(f"Settings and SETTINGS disagree: {fields} vs {declared}")


_check_settings_match()
