"""Migrations are ordered, named, recorded and idempotent on every backend; the PostgreSQL
schema has the shape docs/scaling.md promises (partitioned events, project-led keys, lz4)."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import psycopg
import pytest

from hivelog.store import migrations
from tests.conftest import HIVELOG, new_database


def _applied(db: str, backend: str) -> list[str]:
    query = "SELECT name FROM schema_migrations ORDER BY name"
    if backend == "sqlite":
        with sqlite3.connect(db) as conn:
            return [r[0] for r in conn.execute(query)]
    if backend == "chdb":
        from hivelog.store.clickhouse.connection import parse_rows
        from hivelog.store.clickhouse.transport import open_transport

        engine = open_transport(db)
        try:
            out = engine.execute("SELECT name FROM schema_migrations FINAL ORDER BY name")
        finally:
            engine.close()
        return [r[0] for r in parse_rows(out)]
    with psycopg.connect(db) as pg:
        return [r[0] for r in pg.execute(query)]


def test_migrate_twice_applies_each_migration_once(fresh_database: str, backend: str) -> None:
    for _ in range(2):
        done = subprocess.run(
            [HIVELOG, "migrate", "--db", fresh_database], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert "up to date" in done.stderr
    assert _applied(fresh_database, backend) == [name for name, _ in migrations.migrations()]


@pytest.mark.parametrize(
    ("db", "flag", "says"),
    [
        ("h.db", "--writer-thread", "needs the writer process"),
        ("chdb:h", "--port=0", "opens its data in one process only"),
        (":memory:", "--workers=1", "cannot be served"),
    ],
)
def test_workers_refused_where_processes_cannot_share_the_writes(
    tmp_path: Path, db: str, flag: str, says: str
) -> None:
    """SQLite workers share one writer process; writer threads, or the embedded ClickHouse
    engine, cannot be shared, so `--workers 2` with them is refused before anything starts;
    an in-memory SQLite database cannot be shared even by one server's own connections."""
    where = {"chdb:h": f"chdb:{tmp_path}/h", ":memory:": db}.get(db, f"{tmp_path}/{db}")
    done = subprocess.run(
        [HIVELOG, "serve", "--db", where, "--workers", "2", flag],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert says in done.stderr


def test_postgres_schema_is_partitioned_and_led_by_project(tmp_path: Path) -> None:
    with new_database("postgres", tmp_path) as db:
        done = subprocess.run(
            [HIVELOG, "migrate", "--db", db], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        _check_postgres_schema(db)


def _check_postgres_schema(db: str) -> None:
    with psycopg.connect(db) as conn:
        kind = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'events'").fetchone()
        assert kind == ("p",)  # partitioned
        strategy = conn.execute("SELECT pg_get_partkeydef('events'::regclass)").fetchone()
        assert strategy == ("RANGE (day)",)
        rows = conn.execute(
            "SELECT t.relname, i.relname, a.attname FROM pg_index x "
            "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0] "
            "WHERE t.relname IN ('events', 'sessions', 'pending_updates')"
        ).fetchall()
        assert len(rows) >= 6
        for table, index, first in rows:
            assert first == "project", f"{table}.{index} leads with {first}"
        columns = dict(
            conn.execute(
                "SELECT attname, attcompression FROM pg_attribute "
                "WHERE attrelid = 'events'::regclass AND atttypid = 'jsonb'::regtype"
            ).fetchall()
        )
        assert set(columns) == {
            "children_ids",
            "config",
            "inputs",
            "outputs",
            "metadata",
            "feedback",
            "metrics",
            "user_properties",
        }
        assert set(columns.values()) == {"l"}  # lz4
