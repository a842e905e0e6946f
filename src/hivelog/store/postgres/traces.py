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
from hivelog.store.postgres.connection import _LOCK_SPACE, PostgresBase, _no_nul
from hivelog.store.traces import Move, named_links, settle, trace_hex

# The least (rank, session) named wins (`TraceLink.prefers`), compared byte by byte (COLLATE
# "C": UTF-8 byte order, as Python and SQLite compare), not in the database's locale.
_LINK = (
    "INSERT INTO trace_sessions (project, trace_session, session_id, rank) "
    "SELECT %s, t, s, r FROM unnest(%s::text[], %s::text[], %s::int[]) AS x(t, s, r) ORDER BY t "
    "ON CONFLICT (project, trace_session) DO UPDATE SET session_id = excluded.session_id, "
    'rank = excluded.rank WHERE (excluded.rank, excluded.session_id COLLATE "C") '
    '< (trace_sessions.rank, trace_sessions.session_id COLLATE "C")'
)
_MAPPING = (
    "SELECT trace_session, session_id, rank FROM trace_sessions "
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
# A trace's spans in a session another span of it outranked: only that trace's (the session
# may hold other traces, e.g. a conversation continued in a later run), never the session.
_OF_TRACE = (
    "project = %(p)s AND day = %(day)s AND session_id = %(from)s AND event_id <> %(from)s "
    "AND metadata->'otel'->>'trace_id' = %(trace_id)s"
)
_MOVE_TRACE_OUT = (
    "UPDATE events SET session_id = %(to)s, day = %(to_day)s, parent_id = CASE "
    "WHEN parent_id = %(from)s THEN %(to)s ELSE parent_id END "
    f"WHERE {_OF_TRACE} AND NOT EXISTS "
    "(SELECT 1 FROM events o WHERE o.project = %(p)s AND o.day = %(to_day)s "
    "AND o.event_id = events.event_id AND o.session_id = %(to)s) "
    "RETURNING start_time, end_time"
)
_LEFT_OF_TRACE = f"DELETE FROM events WHERE {_OF_TRACE}"
# The session left behind: a placeholder gone once nothing is in it, else spanning what is.
_DROP_EMPTY = (
    "DELETE FROM events WHERE project = %(p)s AND day = %(day)s AND event_id = %(from)s "
    "AND placeholder = 1 AND NOT EXISTS (SELECT 1 FROM events o WHERE o.project = %(p)s "
    "AND o.day = %(day)s AND o.session_id = %(from)s AND o.event_id <> %(from)s) "
    "RETURNING event_name"
)
_RESPAN = (
    "UPDATE events SET start_time = s.lo, end_time = s.hi, duration = s.hi - s.lo "
    "FROM (SELECT min(start_time) AS lo, max(end_time) AS hi FROM events o "
    "WHERE o.project = %(p)s AND o.day = %(day)s AND o.session_id = %(from)s "
    "AND o.event_id <> %(from)s) AS s WHERE project = %(p)s AND day = %(day)s "
    "AND event_id = %(from)s AND placeholder = 1 AND s.lo IS NOT NULL"
)
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
    ) -> tuple[dict[str, str], list[Move]]:
        """Record the sessions this job's traces name (the least (rank, session) wins, in
        every process); return the mapping of every trace of the job that has one, and the
        traces whose mapping this job changed. The mapping read stays true until COMMIT: a
        job naming a session for a trace holds its bucket's lock exclusively
        (`Writes._lock_buckets`), one reading it shares it."""
        if not job.traces:
            return {}, []
        named = sorted((t, _no_nul(s), r) for t, s, r in named_links(job.traces))
        rows = conn.execute(_MAPPING, (project.key, list(job.traces))).fetchall()
        if named:
            conn.execute(
                _LINK,
                (
                    project.key,
                    [t for t, _, _ in named],
                    [s for _, s, _ in named],
                    [r for _, _, r in named],
                ),
            )
        return settle({t: (s, r) for t, s, r in rows}, named)

    def _move_out(
        self, conn: psycopg.Connection[Any], project: Project, trace: str, left: str, session: str
    ) -> None:
        """The trace's spans stored in `left` (a session it no longer maps to) move to
        `session`'s partition; `left`, if a placeholder, goes once empty (its name naming
        `session` if that is still "unknown") or spans what it still holds."""
        from hivelog.store.postgres.writes import _bucket  # the module that locks imports this

        key = project.key
        # `left` is no bucket this job locked: wait for writes adding to it, or they for us
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_SPACE, _bucket(left)))
        found = conn.execute(_DAY, (key, left)).fetchone()
        to = conn.execute(_DAY, (key, session)).fetchone()
        if found is None or to is None:
            return
        params = {
            "p": key,
            "day": found[0],
            "from": left,
            "to": session,
            "to_day": to[0],
            "trace_id": trace_hex(trace),
        }
        moved = conn.execute(_MOVE_TRACE_OUT, params).fetchall()
        conn.execute(_LEFT_OF_TRACE, params)  # resent spans already in `session`
        if not moved:
            return
        gone = conn.execute(_DROP_EMPTY, params).fetchone()
        if gone is None:
            conn.execute(_RESPAN, params)
        else:
            conn.execute(_FORGET, (key, left))
        conn.execute(
            _NAME_PLACEHOLDER,
            {
                "name": gone[0] if gone else "unknown",
                "start": min(s for s, _ in moved),
                "end": max(e for _, e in moved),
                "p": key,
                "day": to[0],
                "to": session,
            },
        )

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
