"""Reads of events for the API: one event, a session, a filtered query, and their projects.

Why a module of its own: these are the reads the HoneyHive-compatible routes serve, on the
read-only pool under the read statement timeout; children ids are merged in from the rows
that name an event as parent. The filter-plus-search WHERE clause is built here and shared
with `views`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg

from hivelog.event import Event
from hivelog.query.filters import scoped_where
from hivelog.store.base import SORTABLE, EventQuery, Project, StoredEvent
from hivelog.store.postgres.connection import _SELECT, PostgresBase
from hivelog.store.rows import merge_children, row_to_event, row_to_stored, with_children

_SEARCHED = "(coalesce(inputs::text, '') || ' ' || coalesce(outputs::text, ''))"


def _search_sql(text: str) -> tuple[str, list[Any]]:
    """Every whitespace-separated word must occur in inputs or outputs, case-insensitively.

    A scan of the rows the other clauses leave (bounded by the read statement timeout); no
    trigram index, whose upkeep would cost every insert (see docs/scaling.md).
    """
    clauses, params = [], []
    for word in text.split():
        clauses.append(f"strpos(lower({_SEARCHED}), lower(%s)) > 0")
        params.append(word)
    return " AND ".join(clauses), params


def _where(project: Project, query: EventQuery) -> tuple[str, list[Any]]:
    return scoped_where("postgres", project.key, query, _search_sql)


class Reads(PostgresBase):
    """Events by id, by session and by query; which project a name or an event belongs to."""

    def find_project(self, name: str) -> Project | None:
        project = self._projects.get(name)
        if project is not None:
            return project
        with self._reader() as conn:
            row = conn.execute(
                "SELECT key, project_id FROM projects WHERE name = %s", (name,)
            ).fetchone()
        return Project(key=row[0], project_id=row[1], name=name) if row else None

    def project_of_event(self, event_id: str) -> Project | None:
        with self._reader() as conn:
            rows = conn.execute(
                "SELECT p.key, p.project_id, p.name FROM projects p WHERE EXISTS "
                "(SELECT 1 FROM events e WHERE e.project = p.key AND e.event_id = %s) LIMIT 2",
                (event_id,),
            ).fetchall()
        if len(rows) != 1:
            return None
        return Project(key=rows[0][0], project_id=rows[0][1], name=rows[0][2])

    def get_event(self, project: Project, event_id: str) -> Event | None:
        with self._reader(project) as conn:
            row = conn.execute(
                f"SELECT {_SELECT} FROM events WHERE project = %s AND event_id = %s "
                "ORDER BY placeholder, seq LIMIT 1",
                (project.key, event_id),
            ).fetchone()
            if row is None:
                return None
            event = row_to_event(row)
            self._add_children(conn, project, [event])
        return event

    def session_events(self, project: Project, session_id: str) -> list[StoredEvent]:
        with self._reader(project) as conn:
            rows = conn.execute(
                f"SELECT {_SELECT} FROM events WHERE project = %s AND session_id = %s "
                "AND day = (SELECT day FROM sessions WHERE project = %s AND session_id = %s) "
                "ORDER BY start_time, seq",
                (project.key, session_id, project.key, session_id),
            ).fetchall()
        return with_children([row_to_stored(r) for r in rows])

    def query_events(self, project: Project, query: EventQuery) -> tuple[list[Event], int]:
        where, params = _where(project, query)
        column = query.order_by if query.order_by in SORTABLE else "start_time"
        order = f"{column} {'DESC' if query.newest_first else 'ASC'}"
        order += ", seq DESC" if query.newest_first else ", seq"
        with self._reader(project) as conn:
            rows = conn.execute(
                f"SELECT {_SELECT} FROM events WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s",
                [*params, query.limit, query.offset],
            ).fetchall()
            events = [row_to_event(r) for r in rows]
            if query.count:
                count = conn.execute(f"SELECT count(*) FROM events WHERE {where}", params)
                total = int(next(iter(count.fetchone() or ()), 0))
            else:
                total = len(events)
            self._add_children(conn, project, events)
        return events, total

    def _add_children(
        self, conn: psycopg.Connection[Any], project: Project, events: list[Event]
    ) -> None:
        """Children ids from the rows naming each event as parent, in its session: one query
        for the whole page. A page of 1,000 one-event sessions was 1,000 round trips, which
        a busy server could not finish within the read limit."""
        if not events:
            return
        wanted: dict[tuple[str, str], Event] = {(e.session_id, e.event_id): e for e in events}
        found: dict[tuple[str, str], list[str]] = defaultdict(list)
        for session_id, parent_id, event_id in conn.execute(
            "SELECT session_id, parent_id, event_id FROM events WHERE project = %s "
            "AND session_id = ANY(%s) AND parent_id = ANY(%s) ORDER BY start_time, seq",
            (
                project.key,
                sorted({e.session_id for e in events}),
                sorted({e.event_id for e in events}),
            ),
        ):
            if (session_id, parent_id) in wanted:
                found[(session_id, parent_id)].append(event_id)
        for key, kids in found.items():
            merge_children(wanted[key], kids)
