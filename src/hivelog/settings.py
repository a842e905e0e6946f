"""Every server setting in one place: name, type, default, help text; the environment
variable (`HIVELOG_<NAME>`) and the `hivelog serve` flag follow from the name.

The CLI builds its options from `SETTINGS`, and docs/settings.md is generated from it
(`python -m hivelog.settings > docs/settings.md`; a test keeps the two equal), so a setting
cannot exist without being documented.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path
from typing import Any


def setting(default: Any, help: str) -> Any:
    """A Settings field with its help text."""
    return dataclasses.field(default=default, metadata={"help": help})


# Bounds on what a server process holds in memory, split between `serve --workers N`'s processes
WORKER_SHARED = ("queue_events", "queue_bytes", "inflight_bytes")


def default_db() -> str:
    return str(Path.home() / ".hivelog" / "hivelog.db")


@dataclasses.dataclass(frozen=True)
class Settings:
    host: str = setting(
        "127.0.0.1",
        "Interface to listen on.",
    )
    port: int = setting(
        8080,
        "TCP port to listen on.",
    )
    grpc_port: int = setting(
        4317,
        "TCP port for OTLP/gRPC (traces and logs), on the same --host; 0 turns it off.",
    )
    db: str | None = setting(
        None,
        "Database: a SQLite file path (default ~/.hivelog/hivelog.db), a "
        "postgresql://user@host:5432/dbname URL, a clickhouse://[user:password@]host:8123/db "
        "URL (clickhouses:// or ?secure=1 for TLS) or chdb:PATH (the embedded ClickHouse "
        "engine); ClickHouse needs `pip install 'hivelog[clickhouse]'`.",
    )
    clickhouse_cluster: str | None = setting(
        None,
        "ClickHouse only: the cluster (from the server's remote_servers) whose nodes hold "
        "hivelog's tables: migrations create them ON CLUSTER with Replicated engines behind "
        "Distributed tables, and inserts wait for a quorum of replicas (docs/scaling.md).",
    )
    max_body_bytes: int = setting(
        64 * 1024 * 1024,
        "Largest accepted request body, counted after decompression; larger bodies get 413.",
    )
    queue_events: int = setting(
        200_000,
        "Events waiting for the writer before new writes get 503 + Retry-After (with "
        "--workers N, each worker holds its Nth).",
    )
    inflight_bytes: int = setting(
        128 * 1024 * 1024,
        "Request bytes being received and decoded at once, across all connections; past it "
        "new writes get 503 + Retry-After (a request alone is always admitted; with --workers "
        "N, each worker holds its Nth).",
    )
    convert_processes: int = setting(
        1,
        "Worker processes that decode OTLP requests and turn spans into events, off the event "
        "loop (0: on the event loop). Small requests are always converted in place.",
    )
    queue_bytes: int = setting(
        256 * 1024 * 1024,
        "Request bytes waiting for the writer before new writes get 503 + Retry-After (with "
        "--workers N, each worker holds its Nth).",
    )
    log_level: str = setting(
        "info",
        "Server log level (debug, info, warning, error).",
    )
    workers: int = setting(
        1,
        "Server processes sharing the port. On SQLite they all write through one writer "
        "process (not with --writer-thread; not with chdb:).",
    )
    writer_thread: bool = setting(
        False,
        "SQLite only: run the writes in a thread of the server process instead of a writer "
        "process of their own (slower under many concurrent single-event requests; "
        "docs/scaling.md).",
    )
    retention_days: int = setting(
        0,
        "Delete sessions (with all their events) that started more than this many days ago; 0"
        " keeps everything.",
    )
    insecure: bool = setting(
        False,
        "Allow listening beyond loopback with no API key: anyone who can reach the port can "
        "read and write every project. Without it, such a server refuses to start.",
    )
    allowed_hosts: str = setting(
        "",
        "Host names the server answers to besides localhost, IP addresses and --host, comma "
        "separated (`.example.com` also matches its subdomains; `*` any host): for a server "
        "behind a proxy that passes its own name. Other Host headers get 421 while the server "
        "runs open (DNS-rebinding protection), and always once this is set. docs/security.md.",
    )
    max_batch_events: int = setting(
        10_000,
        "Most events (or spans) one request may carry; more get 413.",
    )
    max_field_bytes: int = setting(
        1024 * 1024,
        "Longest string value stored (UTF-8 bytes); longer ones are cut, end with a marker, "
        "and metadata.hivelog_truncated records their original length.",
    )
    max_json_depth: int = setting(
        64,
        "Deepest nesting of objects and lists inside an event's fields (at most 200); deeper "
        "gets 400.",
    )
    max_filters: int = setting(
        50,
        "Most filters one query may have, from the API, a UI page or `hivelog export`; more "
        "get 400 (a page says why).",
    )
    max_search_chars: int = setting(
        256,
        "Longest search text (characters) of the UI's search box and the chart route; longer, "
        "or more than 32 words, gets 400 (a page says why).",
    )
    read_timeout_ms: int = setting(
        10_000,
        "Time limit of one read query; a query stopped by it gets 400 query_timeout.",
    )
    max_connections: int = setting(
        1000,
        "Open connections plus running requests before new requests get 503 (uvicorn "
        "limit_concurrency).",
    )
    keep_alive_seconds: int = setting(
        15,
        "An idle keep-alive connection is closed after this many seconds.",
    )
    header_timeout_seconds: float = setting(
        10.0,
        "A connection that has not sent a whole request head within this time is closed (slow"
        " clients, slowloris).",
    )
    body_timeout_seconds: float = setting(
        30.0,
        "A request body that stalls this long between two chunks gets 408.",
    )
    prices: str | None = setting(
        None,
        "Prices file (TOML or JSON): model name or glob pattern → input, output, cached and "
        "cache_write USD per million tokens; overrides and extends genai-prices' table for "
        "calls stored from now on (`hivelog prices` lists the effective prices).",
    )
    max_header_bytes: int = setting(
        64 * 1024,
        "Largest request head (request line and headers); larger gets 431 and the connection "
        "is closed.",
    )

    @property
    def db_path(self) -> str:
        return self.db or default_db()

    def worker_share(self) -> Settings:
        """The settings of one of `workers` server processes: each holds its share of the
        memory bounds (`WORKER_SHARED`), so N workers together hold no more than one server
        would (a request alone is still always admitted)."""
        if self.workers <= 1:
            return self
        shares = {name: max(1, getattr(self, name) // self.workers) for name in WORKER_SHARED}
        return dataclasses.replace(self, **shares)

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Defaults, then HIVELOG_* variables, then explicit non-None overrides."""
        values: dict[str, Any] = {}
        for s in SETTINGS:
            raw = os.environ.get(s.env)
            if raw is not None and raw != "":
                values[s.name] = parse(s, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One field of Settings, as the CLI and the docs see it."""

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


def _scalar(annotation: Any) -> type:
    """`int` of `int`, `str` of `str | None`."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation  # type: ignore[no-any-return]


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(f.name, _scalar(typing.get_type_hints(Settings)[f.name]), f.default, f.metadata["help"])
    for f in dataclasses.fields(Settings)
)


def parse(s: Setting, raw: str) -> Any:
    """A value from its text (environment): booleans as 1/0, true/false, yes/no, on/off."""
    if s.type is bool:
        text = raw.strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{s.env}={raw!r} is not a boolean (use 1/0, true/false)")
    return s.type(raw)


def shown_default(s: Setting) -> str:
    """A setting's default as `--help` and docs/settings.md show it: the database's path, or
    "none" for a setting that is off unless given."""
    if s.name == "db":
        return "~/.hivelog/hivelog.db"
    return "none" if s.default is None else str(s.default)


def markdown() -> str:
    """docs/settings.md: every setting with its flag, variable, default and meaning."""
    rows = [
        "# Settings",
        "",
        "Every `hivelog serve` setting is a flag and an environment variable; a flag wins over",
        "the variable, the variable over the default. Generated from `src/hivelog/settings.py`",
        "(`python -m hivelog.settings > docs/settings.md`).",
        "",
        "| flag | variable | default | meaning |",
        "|---|---|---|---|",
    ]
    for s in SETTINGS:
        default = shown_default(s)
        flag = s.flag if s.type is not bool else f"{s.flag} (no value)"
        rows.append(f"| `{flag}` | `{s.env}` | `{default}` | {s.help} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
