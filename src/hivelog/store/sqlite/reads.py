"""Event reads on the per-thread read-only connections: single events, sessions, queries.

`children_ids` is derived here from `parent_id` (plus any ids the client set), never stored
by the write path, so it is right whatever order events arrived in.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict

from hivelog.event import Event
from hivelog.store.base import SORTABLE, EventQuery, Project, StoredEvent
from hivelog.store.rows import merge_children, row_to_event, row_to_stored, with_children
from hivelog.store.sqlite.connection import SELECT, SqliteBase, chunks, marks


class SqliteReads(SqliteBase):
    def find_project(self, name: str) -> Project | None:
        project = self._projects.get(name)
        if project is not None:
            return project
        row = (
            self._conn_r()
            .execute("SELECT key, project_id FROM projects WHERE name = ?", (name,))
            .fetchone()
        )
        return Project(key=row[0], project_id=row[1], name=name) if row else None

    def project_of_event(self, event_id: str) -> Project | None:
        rows = (
            self._conn_r()
            .execute(
                "SELECT p.key, p.project_id, p.name FROM projects p WHERE EXISTS "
                "(SELECT 1 FROM events e WHERE e.project = p.key AND e.event_id = ?) LIMIT 2",
                (event_id,),
            )
            .fetchall()
        )
        return (
            Project(key=rows[0][0], project_id=rows[0][1], name=rows[0][2])
            if len(rows) == 1
            else None
        )

    def get_event(self, project: Project, event_id: str) -> Event | None:
        conn = self._conn_r()
        row = conn.execute(
            f"SELECT {SELECT} FROM events WHERE project = ? AND event_id = ?",
            (project.key, event_id),
        ).fetchone()
        if row is None:
            return None
        event = row_to_event(row)
        self._add_children(conn, project, [event])
        return event

    def session_events(self, project: Project, session_id: str) -> list[StoredEvent]:
        with self._time_limit(project):
            rows = (
                self._conn_r()
                .execute(
                    f"SELECT {SELECT} FROM events WHERE project = ? AND session_id = ? "
                    "ORDER BY +start_time, seq",  # `+`: by session, not the time index
                    (project.key, session_id),
                )
                .fetchall()
            )
        return with_children([row_to_stored(r) for r in rows])

    def query_events(self, project: Project, query: EventQuery) -> tuple[list[Event], int]:
        with self._time_limit(project):
            return self._query_events(project, query)

    def _query_events(self, project: Project, query: EventQuery) -> tuple[list[Event], int]:
        conn = self._conn_r()
        where, params = self._where(project, query)
        column = query.order_by if query.order_by in SORTABLE else "start_time"
        order = f"{column} {'DESC' if query.newest_first else 'ASC'}"
        order += ", seq DESC" if query.newest_first else ", seq"
        rows = conn.execute(
            f"SELECT {SELECT} FROM events WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
            (*params, query.limit, query.offset),
        ).fetchall()
        events = [row_to_event(r) for r in rows]
        total = (
            conn.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone()[0]
            if query.count
            else len(events)
        )
        self._add_children(conn, project, events)
        return events, total

    def _add_children(
        self, conn: sqlite3.Connection, project: Project, events: list[Event]
    ) -> None:
        by_session: dict[str, list[Event]] = defaultdict(list)
        for e in events:
            by_session[e.session_id].append(e)
        for session_id, group in by_session.items():
            wanted = {e.event_id: e for e in group}
            found: dict[str, list[str]] = defaultdict(list)
            for chunk in chunks(list(wanted)):
                for parent_id, event_id in conn.execute(
                    f"SELECT parent_id, event_id FROM events WHERE project = ? AND session_id = ? "
                    f"AND parent_id IN ({marks(len(chunk))}) ORDER BY +start_time, seq",
                    (project.key, session_id, *chunk),
                ):
                    found[parent_id].append(event_id)
            for event_id, kids in found.items():
                merge_children(wanted[event_id], kids)
