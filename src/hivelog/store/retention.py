"""Retention: delete sessions older than `--retention-days`, with all their events.

A background thread in every server process runs one pass shortly after start and then every
hour. A pass works in bounded steps — each step one short transaction of at most `chunk`
sessions (or one dropped day partition on PostgreSQL) — so it never holds the database for
long and the writer keeps committing between steps. On PostgreSQL an advisory lock lets one
process at a time do the work; the others find nothing to do.

SQLite deletes through a connection of its own (the writer's connection belongs to the writer
thread); each step is one IMMEDIATE transaction that the writer waits for (busy_timeout).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

from hivelog.store import packing
from hivelog.store.base import Store

log = logging.getLogger("hivelog.retention")

DAY_MS = 86_400_000
FIRST_PASS_DELAY_S = 1.0
PASS_INTERVAL_S = 3600.0
MAX_STEPS_PER_PASS = 100_000
PAUSE_BETWEEN_STEPS_S = 0.01


def expire_sqlite(path: str, before_ms: int, chunk: int = 100) -> int:
    """Delete up to `chunk` sessions that started before `before_ms` (with their events, parked
    updates and trace mappings); once none is left, up to `chunk` updates parked before
    `before_ms` for events that never came. Returns how many were removed."""
    conn = sqlite3.connect(Path(path).expanduser(), isolation_level=None, timeout=10.0)
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        packing.register(conn)  # the search index's delete trigger reads packed text
        conn.execute("BEGIN IMMEDIATE")
        try:
            removed = _expire_sqlite_sessions(conn, before_ms, chunk)
            if not removed:
                removed = conn.execute(
                    "DELETE FROM pending_updates WHERE seq IN (SELECT seq FROM pending_updates "
                    "WHERE received_at < ? LIMIT ?)",
                    (before_ms, chunk),
                ).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return removed
    finally:
        conn.close()


def _expire_sqlite_sessions(conn: sqlite3.Connection, before_ms: int, chunk: int) -> int:
    rows: list[tuple[int, str]] = []
    for (project,) in conn.execute("SELECT key FROM projects ORDER BY key").fetchall():
        rows = conn.execute(
            "SELECT project, event_id FROM events WHERE project = ? "
            "AND event_type = 'session' AND event_id = session_id AND start_time < ? "
            "LIMIT ?",
            (project, before_ms, chunk),
        ).fetchall()
        if rows:
            break
    for project, session_id in rows:
        conn.execute(
            "DELETE FROM pending_updates WHERE project = ? AND event_id IN "
            "(SELECT event_id FROM events WHERE project = ? AND session_id = ?)",
            (project, project, session_id),
        )
        conn.execute(
            "DELETE FROM events WHERE project = ? AND session_id = ?", (project, session_id)
        )
        conn.execute(
            "DELETE FROM trace_sessions WHERE project = ? AND session_id = ?",
            (project, session_id),
        )
    return len(rows)


def expire_step(store: Store, before_ms: int) -> int:
    """One bounded step on whichever backend `store` is; 0 means nothing is left to do."""
    from hivelog.store.postgres import PostgresStore
    from hivelog.store.sqlite import SqliteStore

    expire = getattr(store, "expire", None)  # PostgreSQL, ClickHouse
    if callable(expire) and not isinstance(store, SqliteStore):
        return int(expire(before_ms))
    if isinstance(store, PostgresStore):
        return store.expire(before_ms)
    if isinstance(store, SqliteStore):
        return expire_sqlite(store.path, before_ms)
    raise TypeError(f"no retention for {type(store).__name__}")


class Retention:
    """The background thread; `stop()` ends it between steps."""

    def __init__(self, store: Store, days: int) -> None:
        self.store = store
        self.days = days
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hivelog-retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        delay = FIRST_PASS_DELAY_S
        while not self._stop.wait(delay):
            delay = PASS_INTERVAL_S
            try:
                removed = self._pass()
                if removed:
                    log.info("retention removed %d sessions/partitions", removed)
            except Exception:  # a failed pass is retried at the next interval
                log.exception("retention pass failed")
            self.passes += 1

    def _pass(self) -> int:
        before = int(time.time() * 1000) - self.days * DAY_MS
        total = 0
        for _ in range(MAX_STEPS_PER_PASS):
            if self._stop.is_set():
                break
            removed = expire_step(self.store, before)
            if not removed:
                break
            total += removed
            self._stop.wait(PAUSE_BETWEEN_STEPS_S)
        return total
