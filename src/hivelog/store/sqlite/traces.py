"""One trace, one session on SQLite: the trace → session mapping and moving a trace's spans.

Why a module of its own: these are the only writes that change stored events' `session_id`.
The shared rules are in store/traces.py and the `Store` docstring (store/base.py); this is
the SQL, run by the one writer thread inside its transaction.
"""

from __future__ import annotations

import sqlite3

from hivelog.store.base import Project, WriteEvents
from hivelog.store.sqlite.connection import SqliteBase, chunks, marks
from hivelog.store.traces import Move, named_links, settle, trace_hex

# The least (rank, session) named wins (`TraceLink.prefers`): SQLite compares text by its
# bytes, UTF-8, which orders as Python's str comparison does.
_LINK = (
    "INSERT INTO trace_sessions (project, trace_session, session_id, rank) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (project, trace_session) DO UPDATE SET session_id = excluded.session_id, "
    "rank = excluded.rank WHERE (excluded.rank, excluded.session_id) "
    "< (trace_sessions.rank, trace_sessions.session_id)"
)
# The trace's own session event: its name and times go to the session that replaces it.
_TRACE_SESSION = (
    "DELETE FROM events WHERE project = ? AND event_id = ? AND session_id = ? "
    "RETURNING event_name, start_time, end_time"
)
_MOVE = (
    "UPDATE events SET session_id = ?1, parent_id = CASE WHEN parent_id = ?2 THEN ?1 "
    "ELSE parent_id END WHERE project = ?3 AND session_id = ?2 "
    "RETURNING start_time, end_time"
)
# A trace's spans in a session another span of it outranked: only that trace's (the session
# may hold other traces, e.g. a conversation continued in a later run), never the session.
_MOVE_TRACE_OUT = (
    "UPDATE events SET session_id = ?1, parent_id = CASE WHEN parent_id = ?2 THEN ?1 "
    "ELSE parent_id END WHERE project = ?3 AND session_id = ?2 AND event_id <> ?2 "
    "AND json_extract(metadata, '$.otel.trace_id') = ?4 "
    "RETURNING start_time, end_time"
)
# The session left behind: a placeholder gone once nothing is in it, else spanning what is.
_DROP_EMPTY = (
    "DELETE FROM events WHERE project = ?1 AND event_id = ?2 AND placeholder = 1 "
    "AND NOT EXISTS (SELECT 1 FROM events WHERE project = ?1 AND session_id = ?2 "
    "AND event_id <> ?2) RETURNING event_name"
)
_RESPAN = (
    "UPDATE events SET start_time = s.lo, end_time = s.hi, duration = s.hi - s.lo "
    "FROM (SELECT min(start_time) AS lo, max(end_time) AS hi FROM events "
    "WHERE project = ?1 AND session_id = ?2 AND event_id <> ?2) AS s "
    "WHERE project = ?1 AND event_id = ?2 AND placeholder = 1 AND s.lo IS NOT NULL"
)
_NAME_PLACEHOLDER = (
    "UPDATE events SET event_name = CASE event_name WHEN 'unknown' THEN ?1 ELSE event_name END, "
    "start_time = min(start_time, ?2), end_time = max(end_time, ?3), "
    "duration = max(end_time, ?3) - min(start_time, ?2) "
    "WHERE project = ?4 AND event_id = ?5 AND placeholder = 1"
)


class SqliteTraces(SqliteBase):
    _any_links: bool | None = None  # has any trace named a session? (None: not looked yet)

    def _link_traces(
        self, conn: sqlite3.Connection, project: Project, job: WriteEvents
    ) -> tuple[dict[str, str], list[Move]]:
        """Record the sessions this job's traces name (the least (rank, session) wins);
        return the mapping of every trace of the job that has one, and the traces whose
        mapping this job changed."""
        if not job.traces:
            return {}, []
        named = named_links(job.traces)
        if named:
            self._any_links = True
        elif self._any_links is None:
            found = conn.execute("SELECT 1 FROM trace_sessions LIMIT 1").fetchone()
            self._any_links = found is not None
        if not self._any_links:  # no trace has named a session yet: nothing to look up
            return {}, []
        stored: dict[str, tuple[str, int]] = {}
        for chunk in chunks(list(job.traces)):
            for trace, session, rank in conn.execute(
                f"SELECT trace_session, session_id, rank FROM trace_sessions "
                f"WHERE project = ? AND trace_session IN ({marks(len(chunk))})",
                (project.key, *chunk),
            ):
                stored[trace] = (session, rank)
        if named:
            conn.executemany(_LINK, [(project.key, t, s, r) for t, s, r in named])
        return settle(stored, named)

    def _move_trace(
        self, conn: sqlite3.Connection, project: Project, trace: str, session: str
    ) -> None:
        """What is stored of a trace under its own session moves to `session`, and the trace's
        session event gives way to it (its name naming `session` if still "unknown")."""
        key = project.key
        gone = conn.execute(_TRACE_SESSION, (key, trace, trace)).fetchone()
        moved = conn.execute(_MOVE, (session, trace, key)).fetchall()
        spans = [*moved, *([gone[1:]] if gone else [])]
        if spans:
            start = min(s for s, _ in spans)
            end = max(e for _, e in spans)
            conn.execute(
                _NAME_PLACEHOLDER, (gone[0] if gone else "unknown", start, end, key, session)
            )

    def _move_out(
        self, conn: sqlite3.Connection, project: Project, trace: str, left: str, session: str
    ) -> None:
        """The trace's spans stored in `left` (a session it no longer maps to) move to
        `session`; `left`, if a placeholder, goes once empty (its name naming `session` if
        that is still "unknown") or spans what it still holds."""
        key = project.key
        moved = conn.execute(_MOVE_TRACE_OUT, (session, left, key, trace_hex(trace))).fetchall()
        if not moved:
            return
        gone = conn.execute(_DROP_EMPTY, (key, left)).fetchone()
        if gone is None:
            conn.execute(_RESPAN, (key, left))
        start = min(s for s, _ in moved)
        end = max(e for _, e in moved)
        conn.execute(_NAME_PLACEHOLDER, (gone[0] if gone else "unknown", start, end, key, session))
