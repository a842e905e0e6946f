"""One trace, one session on PostgreSQL: the trace → session mapping and moving a trace.

Why a module of its own: moving a trace is the one write that changes stored events'
`session_id`, and so their partition (events live in the day of their session). The shared
rules are in store/traces.py and the `Store` docstring; this is the SQL. The write that names
a session for a trace holds the advisory lock of the trace session's bucket exclusively
(`Writes._lock_buckets`), so no other process stores spans of that trace meanwhile: every
write that comes after it sees the mapping and stores its spans in the named session.
"""

from __future__ import annotations

from typing import Any

import psycopg

from hivelog.store.base import Project, WriteEvents
from hivelog.store.postgres.connection import PostgresBase, _no_nul
from hivelog.store.traces import named_links

_LINK = (
    "INSERT INTO trace_sessions (project, trace_session, session_id) "
    "SELECT %s, t, s FROM unnest(%s::text[], %s::text[]) AS x(t, s) ORDER BY t "
    "ON CONFLICT (project, trace_session) DO NOTHING"
)
_MAPPING = (
    "SELECT trace_session, session_id FROM trace_sessions "
    "WHERE project = %s AND trace_session = ANY(%s)"
)
_DAY = "SELECT day FROM sessions WHERE project = %s AND session_id = %s"
_FORGET = "DELETE FROM sessions WHERE project = %s AND session_id = %s RETURNING day"
_TRACE_SESSION = (
    "DELETE FROM events WHERE project = %s AND day = %s AND event_id = %s AND session_id = %s "
    "RETURNING event_name, start_time, end_time"
)
# Into the named session's partition; a span stored there already (a resend that came after
# the trace named its session) is kept once.
_MOVE = (
    "UPDATE events SET session_id = %(to)s, day = %(to_day)s, parent_id = CASE "
    "WHEN parent_id = %(trace)s THEN %(to)s ELSE parent_id END "
    "WHERE project = %(p)s AND day = %(day)s AND session_id = %(trace)s AND NOT EXISTS "
    "(SELECT 1 FROM events o WHERE o.project = %(p)s AND o.day = %(to_day)s "
    "AND o.event_id = events.event_id AND o.session_id = %(to)s) "
    "RETURNING start_time, end_time"
)
_LEFT = "DELETE FROM events WHERE project = %s AND day = %s AND session_id = %s"
_NAME_PLACEHOLDER = (
    "UPDATE events SET event_name = CASE event_name WHEN 'unknown' THEN %(name)s "
    "ELSE event_name END, start_time = LEAST(start_time, %(start)s), "
    "end_time = GREATEST(end_time, %(end)s), "
    "duration = GREATEST(end_time, %(end)s) - LEAST(start_time, %(start)s) "
    "WHERE project = %(p)s AND day = %(day)s AND event_id = %(to)s AND placeholder = 1"
)


class Traces(PostgresBase):
    def _link_traces(
        self, conn: psycopg.Connection[Any], project: Project, job: WriteEvents
    ) -> dict[str, str]:
        """Record the sessions this job's traces name (the first recorded wins, in every
        process); return the mapping of every trace of the job that has one."""
        if not job.traces:
            return {}
        named = sorted(named_links(job.traces))
        if named:
            conn.execute(
                _LINK,
                (project.key, [t for t, _ in named], [_no_nul(s) for _, s in named]),
            )
        rows = conn.execute(_MAPPING, (project.key, list(job.traces))).fetchall()
        return dict(rows)

    def _move_trace(
        self, conn: psycopg.Connection[Any], project: Project, trace: str, session: str
    ) -> None:
        """What is stored of a trace under its own session moves to `session`'s partition,
        and the trace's session event gives way to it (naming it if still "unknown")."""
        session = _no_nul(session)
        key = project.key
        old = conn.execute(_FORGET, (key, trace)).fetchone()
        if old is None:  # nothing of the trace was stored under its own session
            return
        found = conn.execute(_DAY, (key, session)).fetchone()
        if found is None:  # the session's events went in this transaction: it exists
            raise RuntimeError(f"session {session!r} has no day")
        day, to_day = old[0], found[0]
        gone = conn.execute(_TRACE_SESSION, (key, day, trace, trace)).fetchone()
        moved = conn.execute(
            _MOVE, {"to": session, "to_day": to_day, "trace": trace, "p": key, "day": day}
        ).fetchall()
        conn.execute(_LEFT, (key, day, trace))
        spans = [*moved, *([gone[1:]] if gone else [])]
        if spans:
            conn.execute(
                _NAME_PLACEHOLDER,
                {
                    "name": gone[0] if gone else "unknown",
                    "start": min(s for s, _ in spans),
                    "end": max(e for _, e in spans),
                    "p": key,
                    "day": to_day,
                    "to": session,
                },
            )
