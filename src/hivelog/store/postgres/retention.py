"""Retention on PostgreSQL: old day partitions dropped whole, younger old sessions deleted.

Why a module of its own: retention runs in the background (hivelog.store.retention calls
`expire` step by step) and works on partitions rather than on events, under an advisory lock
so that only one process does it at a time.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from hivelog.store.base import UNRESOLVED
from hivelog.store.postgres.connection import (
    _LOCK_SPACE,
    _RETENTION_LOCK,
    DAY_MS,
    PostgresBase,
    log,
    partition_name,
)


class Expiry(PostgresBase):
    """`expire`: one bounded step of retention at a time."""

    def expire(self, before_ms: int, chunk: int = 500) -> int:
        """One bounded step of retention; returns how much it removed (0: nothing left).

        Whole day partitions older than the cutoff day go first (their `sessions` rows in
        chunks, then the partition is detached and dropped); then sessions that started before
        `before_ms` in younger partitions, `chunk` at a time; then parked updates older than
        the cutoff whose event never came. Only one process runs it at a time.
        """
        with self._write_pool().connection() as conn:
            with conn.transaction():
                got = conn.execute(
                    "SELECT pg_try_advisory_xact_lock(%s, %s)", (_LOCK_SPACE, _RETENTION_LOCK)
                ).fetchone()
                if not got or not got[0]:
                    return 0
                projects = [r[0] for r in conn.execute("SELECT key FROM projects ORDER BY key")]
                old_days = sorted(d for d in self._partition_days(conn) if d < before_ms // DAY_MS)
                if old_days:
                    day = old_days[0]
                    for key in projects:
                        gone = conn.execute(
                            "DELETE FROM sessions WHERE project = %s AND day = %s AND session_id "
                            "IN (SELECT session_id FROM sessions WHERE project = %s AND day = %s "
                            "LIMIT %s) RETURNING session_id",
                            (key, day, key, day, chunk),
                        ).fetchall()
                        if gone:
                            _forget_traces(conn, key, [r[0] for r in gone])
                            return len(gone)
                else:
                    for key in projects:
                        removed = self._expire_sessions(conn, key, before_ms, chunk)
                        if removed:
                            return removed
                    for key in [*projects, UNRESOLVED]:
                        cur = conn.execute(
                            "DELETE FROM pending_updates WHERE project = %s AND seq IN "
                            "(SELECT seq FROM pending_updates WHERE project = %s "
                            "AND received_at < %s LIMIT %s)",
                            (key, key, before_ms, chunk),
                        )
                        if cur.rowcount:
                            return cur.rowcount
                    return 0
            # Every session of `day` is gone from `sessions`: drop its events as one table.
            # DETACH … CONCURRENTLY runs outside a transaction and does not block writers.
            self._days.discard(day)
            conn.autocommit = True
            try:
                name = sql.Identifier(partition_name(day))
                conn.execute(
                    sql.SQL("ALTER TABLE events DETACH PARTITION {} CONCURRENTLY").format(name)
                )
                conn.execute(sql.SQL("DROP TABLE {}").format(name))
            finally:
                conn.autocommit = False
            log.info("retention dropped partition %s", partition_name(day))
            return 1

    def _expire_sessions(
        self, conn: psycopg.Connection[Any], project: int, before_ms: int, chunk: int
    ) -> int:
        rows = conn.execute(
            "SELECT event_id, day FROM events WHERE project = %s AND event_type = 'session' "
            "AND start_time < %s AND event_id = session_id LIMIT %s",
            (project, before_ms, chunk),
        ).fetchall()
        if not rows:
            return 0
        ids = [r[0] for r in rows]
        days = sorted({r[1] for r in rows})
        conn.execute(
            "DELETE FROM pending_updates WHERE project = %s AND event_id IN (SELECT event_id "
            "FROM events WHERE project = %s AND day = ANY(%s) AND session_id = ANY(%s))",
            (project, project, days, ids),
        )
        conn.execute(
            "DELETE FROM events WHERE project = %s AND day = ANY(%s) AND session_id = ANY(%s)",
            (project, days, ids),
        )
        conn.execute(
            "DELETE FROM sessions WHERE project = %s AND session_id = ANY(%s)", (project, ids)
        )
        _forget_traces(conn, project, ids)
        return len(ids)


def _forget_traces(conn: psycopg.Connection[Any], project: int, session_ids: list[str]) -> None:
    """The trace → session mappings of expired sessions go with them."""
    conn.execute(
        "DELETE FROM trace_sessions WHERE project = %s AND session_id = ANY(%s)",
        (project, session_ids),
    )
