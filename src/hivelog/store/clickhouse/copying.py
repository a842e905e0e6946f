"""What `hivelog copy` reads and writes on ClickHouse: events page by page (rows as folded,
`FINAL`), patches still waiting for their event, projects and keys as they are."""

from __future__ import annotations

import msgspec

from hivelog.event import Event, EventUpdate
from hivelog.store.base import ApiKey, Cursor, Project
from hivelog.store.clickhouse.connection import REAL_COLUMNS
from hivelog.store.clickhouse.keys import _INSERT, Keys
from hivelog.store.rows import row_to_event

_decode_update = msgspec.json.Decoder(EventUpdate).decode


class Copying(Keys):
    def copy_events(
        self, project: Project, after: Cursor | None, limit: int
    ) -> tuple[list[Event], Cursor | None]:
        start, arrival = after if after is not None else (-(2**63), 0)
        rows = self._query(
            f"SELECT {REAL_COLUMNS} FROM events FINAL WHERE project = ? "
            "AND (start_time, arrival) > (?, ?) ORDER BY start_time, arrival LIMIT ?",
            (project.key, start, arrival, limit),
            {"max_execution_time": 0},
        )
        events = []
        for r in rows:
            r[9] = float(r[9])
            events.append(row_to_event(r))
        cursor = (int(rows[-1][7]), int(rows[-1][0])) if rows else None
        return events, cursor

    def pending_updates(self, project: Project) -> list[EventUpdate]:
        rows = self._query(
            "SELECT body FROM event_patches FINAL WHERE project = ? AND event_id NOT IN "
            "(SELECT event_id FROM events WHERE project = ?) ORDER BY seq, patch_id",
            (project.key, project.key),
        )
        return [_decode_update(body) for (body,) in rows]

    def import_project(self, name: str, project_id: str) -> Project:
        return self.ensure_project(name, project_id)

    def import_key(self, key: ApiKey) -> None:
        project = self.import_project(key.project.name, key.project.project_id)
        if self._query("SELECT 1 FROM api_keys WHERE key_id = ? LIMIT 1", (key.key_id,)):
            return
        self._command(
            _INSERT,
            (
                key.key_id,
                project.key,
                key.name,
                key.prefix,
                key.key_hash,
                key.created_at,
                key.revoked_at,
                1 if key.revoked_at is None else 2,
            ),
            self.insert_settings(),
        )
