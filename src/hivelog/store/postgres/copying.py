"""What `hivelog copy` reads and writes on PostgreSQL: events page by page (through the
`(project, start_time)` index), parked updates, projects and keys as they are."""

from __future__ import annotations

import time

import msgspec

from hivelog.event import Event, EventUpdate
from hivelog.store.base import ApiKey, Cursor, Project
from hivelog.store.postgres.connection import _SELECT, PostgresBase, _text
from hivelog.store.rows import row_to_event

_decode_update = msgspec.json.Decoder(EventUpdate).decode


class Copying(PostgresBase):
    def copy_events(
        self, project: Project, after: Cursor | None, limit: int
    ) -> tuple[list[Event], Cursor | None]:
        start, seq = after if after is not None else (-(2**63), -1)
        with self._reader() as conn:
            rows = conn.execute(
                f"SELECT {_SELECT} FROM events WHERE project = %s AND placeholder = 0 "
                "AND (start_time, seq) > (%s, %s) ORDER BY start_time, seq LIMIT %s",
                (project.key, start, seq, limit),
            ).fetchall()
        cursor = (rows[-1][7], rows[-1][0]) if rows else None
        return [row_to_event(r) for r in rows], cursor

    def pending_updates(self, project: Project) -> list[EventUpdate]:
        with self._reader() as conn:
            rows = conn.execute(
                "SELECT body FROM pending_updates WHERE project = %s ORDER BY seq", (project.key,)
            ).fetchall()
        return [_decode_update(body) for (body,) in rows]

    def import_project(self, name: str, project_id: str) -> Project:
        with self._write_pool().connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO projects (project_id, name, created_at) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (project_id, _text(name), int(time.time() * 1000)),
            )
            row = conn.execute(
                "SELECT key, project_id FROM projects WHERE name = %s", (_text(name),)
            ).fetchone()
        assert row is not None
        return Project(key=row[0], project_id=row[1], name=name)

    def import_key(self, key: ApiKey) -> None:
        project = self.import_project(key.project.name, key.project.project_id)
        with self._write_pool().connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO api_keys (key_id, project, name, prefix, key_hash, created_at, "
                "revoked_at) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    key.key_id,
                    project.key,
                    _text(key.name),
                    key.prefix,
                    key.key_hash,
                    key.created_at,
                    key.revoked_at,
                ),
            )
