"""What `hivelog copy` reads and writes on SQLite: events page by page, parked updates,
projects and keys as they are (ids, times, revocations)."""

from __future__ import annotations

import time

import msgspec

from hivelog.event import Event, EventUpdate
from hivelog.store.base import ApiKey, Cursor, Project
from hivelog.store.rows import row_to_event
from hivelog.store.sqlite.connection import SELECT, SqliteBase

_decode_update = msgspec.json.Decoder(EventUpdate).decode


class SqliteCopying(SqliteBase):
    def copy_events(
        self, project: Project, after: Cursor | None, limit: int
    ) -> tuple[list[Event], Cursor | None]:
        start, seq = after if after is not None else (-(2**63), -1)
        rows = (
            self._conn_r()
            .execute(
                f"SELECT {SELECT} FROM events WHERE project = ? AND placeholder = 0 "
                "AND (start_time > ? OR (start_time = ? AND seq > ?)) "
                "ORDER BY start_time, seq LIMIT ?",
                (project.key, start, start, seq, limit),
            )
            .fetchall()
        )
        cursor = (rows[-1][7], rows[-1][0]) if rows else None
        return [row_to_event(r) for r in rows], cursor

    def pending_updates(self, project: Project) -> list[EventUpdate]:
        rows = self._conn_r().execute(
            "SELECT body FROM pending_updates WHERE project = ? ORDER BY seq", (project.key,)
        )
        return [_decode_update(body) for (body,) in rows]

    def import_project(self, name: str, project_id: str) -> Project:
        conn = self._conn_w()
        conn.execute(
            "INSERT INTO projects (project_id, name, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (project_id, name, int(time.time() * 1000)),
        )
        key, found = conn.execute(
            "SELECT key, project_id FROM projects WHERE name = ?", (name,)
        ).fetchone()
        return Project(key=key, project_id=found, name=name)

    def import_key(self, key: ApiKey) -> None:
        project = self.import_project(key.project.name, key.project.project_id)
        self._conn_w().execute(
            "INSERT INTO api_keys (key_id, project, name, prefix, key_hash, created_at, "
            "revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                key.key_id,
                project.key,
                key.name,
                key.prefix,
                key.key_hash,
                key.created_at,
                key.revoked_at,
            ),
        )
