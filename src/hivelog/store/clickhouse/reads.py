"""Reads of events for the API: one event, a session, a filtered query, and their projects.

Why a module of its own: every read here returns whole events, so each one folds the update
patches still newer than the rows it read (normally none: the writer folds them) and merges
in children ids from the rows that name an event as parent, exactly as the other backends do.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from hivelog.event import Event
from hivelog.query.filters import scoped_where
from hivelog.store.base import SORTABLE, EventQuery, Project, StoredEvent
from hivelog.store.clickhouse.connection import SELECT, ClickHouseBase, events_of
from hivelog.store.clickhouse.rows import fold, is_stale, stored_row
from hivelog.store.clickhouse.transport import literal
from hivelog.store.rows import merge_children, row_to_event, row_to_stored, with_children

_SEARCHED = "concat(ifNull(inputs, ''), ' ', ifNull(outputs, ''))"


def search_sql(text: str) -> tuple[str, list[Any]]:
    """Every whitespace-separated word must occur in inputs or outputs, case-insensitively,
    in any script: a scan of the rows the other clauses leave."""
    clauses, params = [], []
    for word in text.split():
        clauses.append(f"positionCaseInsensitiveUTF8({_SEARCHED}, ?) > 0")
        params.append(word)
    return " AND ".join(clauses), params


def where_of(project: Project, query: EventQuery) -> tuple[str, list[Any]]:
    return scoped_where("clickhouse", project.key, query, search_sql)


def _patches_join(key: int, sessions: Sequence[str] | None, event: str | None) -> str | None:
    """A LEFT JOIN adding `patch_seq` and `patches` (0: none) to each row of a read of
    `sessions` (their events' ids and the sessions' own, a placeholder's) or of `event`."""
    if sessions is not None:
        listed = literal(list(sessions))
        ids = (
            f"event_id IN {listed} OR event_id IN (SELECT event_id FROM events "
            f"WHERE project = {int(key)} AND session_id IN {listed})"
        )
    elif event is not None:
        ids = f"event_id = {literal(event)}"
    else:
        return None
    return (
        "LEFT JOIN (SELECT event_id AS patched, max(seq) AS patch_seq, count() AS patches "
        f"FROM event_patches FINAL WHERE project = {int(key)} AND ({ids}) GROUP BY event_id) "
        "AS p ON p.patched = r.event_id"
    )


def _float_duration(row: list[Any]) -> list[Any]:
    row[9] = float(row[9])
    return row


class Reads(ClickHouseBase):
    """Events by id, by session and by query; which project a name or an event belongs to."""

    def find_project(self, name: str) -> Project | None:
        """Kept once found, as `ensure_project` keeps what it creates: a project is never
        deleted and its key is its name's, so a reading process asks once per name, not once
        per request (a round trip of a few ms to a ClickHouse server)."""
        project = self._projects.get(name)
        if project is not None:
            return project
        project = self._project_row(name)
        if project is not None:
            self._projects[name] = project
        return project

    def _project_by_key(self, key: int) -> Project | None:
        rows = self._read(
            "SELECT project_id, name FROM projects WHERE key = ? "
            "ORDER BY created_at, project_id LIMIT 1",
            (key,),
        )
        return Project(key=key, project_id=rows[0][0], name=rows[0][1]) if rows else None

    def project_of_event(self, event_id: str) -> Project | None:
        rows = self._read(
            "SELECT DISTINCT project FROM (SELECT project FROM events WHERE event_id = ? "
            "UNION ALL SELECT project FROM sessions_agg WHERE session_id = ?) LIMIT 2",
            (event_id, event_id),
        )
        return self._project_by_key(int(rows[0][0])) if len(rows) == 1 else None

    def _rows(
        self,
        project: Project,
        where: str,
        params: Sequence[Any],
        tail: str = "",
        counted: bool = False,
        sessions: Sequence[str] | None = None,
        placeholders: bool = True,
        event: str | None = None,
    ) -> list[list[Any]]:
        """Rows of SELECT from the project's events, with update patches newer than a row
        folded on (normally none are: the writer folds them when it stores them). `counted`
        adds a last column: how many rows match in all, whatever the LIMIT.

        Which rows have patches comes with the rows when the read names its sessions or its
        event (a join on those ids' patches); a page of a query, whose ids are known only
        once read, asks in a second statement."""
        total = ", count() OVER () AS total" if counted else ""
        source = f"{events_of(project.key, placeholders, sessions, event)} AS r"
        joined = _patches_join(project.key, sessions, event)
        if joined is None:
            rows = self._read(f"SELECT {SELECT}{total} FROM {source} WHERE {where} {tail}", params)
            found = self._patch_counts(project, rows)
        else:
            rows = self._read(
                f"SELECT {SELECT}{total}, patch_seq, patches FROM {source} {joined} "
                f"WHERE {where} {tail}",
                params,
            )
            found = {r[1]: (int(r[-2]), int(r[-1])) for r in rows if int(r[-1])}
            rows = [r[:-2] for r in rows]
        return [_float_duration(r) for r in self._fold_newer(project, rows, found)]

    def _patch_counts(self, project: Project, rows: list[list[Any]]) -> dict[str, tuple[int, int]]:
        """Each patched id of `rows`: its newest patch seq and how many patches it has."""
        if not rows:
            return {}
        return {
            event_id: (int(seq), int(count))
            for event_id, seq, count in self._read(
                "SELECT event_id, max(seq), count() FROM event_patches FINAL WHERE project = ? "
                f"AND event_id IN {literal(sorted({r[1] for r in rows}))} GROUP BY event_id",
                (project.key,),
            )
        }

    def _fold_newer(
        self, project: Project, rows: list[list[Any]], found: dict[str, tuple[int, int]]
    ) -> list[list[Any]]:
        """`rows` with the patches newer than each folded on; `found`: each patched id's
        newest patch seq and patch count (`_patch_counts`, or the read's own join)."""
        stale = {r[1] for r in rows if r[1] in found and is_stale(r, *found[r[1]])}
        if not stale:
            return rows
        patches: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for event_id, seq, body in self._read(
            "SELECT event_id, seq, body FROM event_patches FINAL WHERE project = ? AND event_id "
            f"IN {literal(sorted(stale))} ORDER BY event_id, seq, patch_id",
            (project.key,),
        ):
            patches[event_id].append((int(seq), body))
        out = []
        for row in rows:
            if row[1] in stale:
                event, version = fold(row, patches[row[1]])
                row = stored_row(event, row, version)
            out.append(row)
        return out

    def get_event(self, project: Project, event_id: str) -> Event | None:
        rows = self._rows(  # a session (the tree's root)? read from its days and key range
            project,
            "event_id = ?",
            (event_id,),
            "ORDER BY placeholder, seq LIMIT 1",
            sessions=[event_id],
        )
        if rows:
            event = row_to_event(rows[0])
            self._add_children(project, [event])
            return event
        rows = self._rows(  # no placeholder: a placeholder's id is its session's, looked above
            project,
            "event_id = ?",
            (event_id,),
            "ORDER BY seq LIMIT 1",
            placeholders=False,
            event=event_id,
        )
        if not rows:
            return None
        event = row_to_event(rows[0])
        self._add_children(project, [event])
        return event

    def session_events(self, project: Project, session_id: str) -> list[StoredEvent]:
        rows = self._rows(
            project,
            "session_id = ?",
            (session_id,),
            "ORDER BY start_time, seq",
            sessions=[session_id],
        )
        return with_children([row_to_stored(r) for r in rows])

    def query_events(self, project: Project, query: EventQuery) -> tuple[list[Event], int]:
        where, params = where_of(project, query)
        column = query.order_by if query.order_by in SORTABLE else "start_time"
        direction = "DESC" if query.newest_first else "ASC"
        rows = self._rows(
            project,
            where,
            [*params, query.limit, query.offset],
            f"ORDER BY {column} {direction}, seq {direction} LIMIT ? OFFSET ?",
            counted=query.count,
        )
        if not query.count:
            events = [row_to_event(r) for r in rows]
            total = len(events)
        elif rows:  # the count of every match came with the page (a window over the matches)
            events = [row_to_event(r[:-1]) for r in rows]
            total = int(rows[0][-1])
        else:
            count = self._read(
                f"SELECT count() FROM {events_of(project.key)} WHERE {where}", params
            )
            events, total = [], int(count[0][0]) if count else 0
        self._add_children(project, events)
        return events, total

    def _add_children(self, project: Project, events: list[Event]) -> None:
        """Children ids from the rows naming each event as parent, in its session: one query
        for every session of the page (each query costs ClickHouse a few ms of planning)."""
        if not events:
            return
        wanted: dict[tuple[str, str], Event] = {(e.session_id, e.event_id): e for e in events}
        found: dict[tuple[str, str], list[str]] = defaultdict(list)
        sessions = sorted({e.session_id for e in events})
        parents = sorted({e.event_id for e in events})
        for session_id, parent_id, event_id in self._read(
            "SELECT session_id, parent_id, event_id "
            f"FROM {events_of(project.key, False, sessions)} "
            f"WHERE parent_id IN {literal(parents)} ORDER BY start_time, seq",
            (),
        ):
            if (session_id, parent_id) in wanted:
                found[(session_id, parent_id)].append(event_id)
        for key, kids in found.items():
            merge_children(wanted[key], kids)
