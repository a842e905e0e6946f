"""Storage backends behind one Store protocol, and the one place `--db` picks among them.

Only what names a backend lives here; each backend's package is imported when chosen, so a
process that opens one store (the CLI, `serve`'s parent with `--workers`) loads no other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hivelog.settings import Settings
    from hivelog.store.base import Store


def is_postgres(db: str | None) -> bool:
    return bool(db) and str(db).startswith(("postgresql://", "postgres://"))


def is_clickhouse(db: str | None) -> bool:
    return bool(db) and str(db).startswith(("clickhouse://", "clickhouses://", "chdb:"))


def open_store(settings: Settings) -> Store:
    """The backend named by `--db`: a postgresql:// URL means PostgreSQL, clickhouse://,
    clickhouses:// or chdb:PATH ClickHouse, a path SQLite.

    Every query of this process is held to the settings' query limits from here on,
    whichever way it comes in (API, UI pages, CLI export)."""
    from hivelog.query.filters import QueryLimits
    from hivelog.query.filters import configure as configure_query_limits

    configure_query_limits(
        QueryLimits(max_filters=settings.max_filters, max_search_chars=settings.max_search_chars)
    )
    if is_clickhouse(settings.db):
        from hivelog.store.clickhouse import ClickHouseStore

        assert settings.db is not None
        return ClickHouseStore(
            settings.db,
            read_timeout_ms=settings.read_timeout_ms,
            cluster=settings.clickhouse_cluster,
        )
    if is_postgres(settings.db):
        from hivelog.store.postgres import PostgresStore

        assert settings.db is not None
        return PostgresStore(settings.db, read_timeout_ms=settings.read_timeout_ms)
    from hivelog.store.sqlite import SqliteStore

    return SqliteStore(settings.db_path, read_timeout_ms=settings.read_timeout_ms)
