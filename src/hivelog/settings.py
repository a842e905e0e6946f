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
                values[setting.name] = setting.type(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _check_settings_match() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(Settings)}
    declared = {s.name: s.default for s in SETTINGS}
    if fields != declared:  # pragma: no cover - guards edits
        raise RuntimeError(f"Settings and SETTINGS disagree: {fields} vs {declared}")


_check_settings_match()
