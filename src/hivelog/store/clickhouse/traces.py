"""One trace, one session on ClickHouse: the trace → session mapping and moving a trace.

Why it differs from SQLite and PostgreSQL (store/base.py, "One trace, one session"): those
record the mapping and move a trace's stored spans inside one transaction, under a lock.
ClickHouse has no transactions, unique keys or locks, so the same end state is reached by
rules every process applies alike, whatever it has seen:

- **Which session wins** is a function of what is stored, not of who wrote first:
  `trace_sessions` keeps one row per (trace, session named, rank), and the trace's session is
  the least (rank, session) of its rows (`TraceLink.prefers`, the rule of every backend).
  When a later span names a session that outranks the one a trace had, the trace's spans
  move out of the session it left (`_move_out`), which keeps what other traces put there.
- **Nothing is left behind, without a lock** (write, then read the other's write): a job
  records its named links *before* it reads what is stored under the trace's own session
  and moves it; a job that stored spans under a trace's own session reads the mapping
  *after* its INSERT. Of two processes racing, at least one sees the other's write, and
  moving is idempotent (a moved row keeps its arrival and version, so two processes moving
  the same span write the same row, which `FINAL` keeps once). A job that finds a mapped
  trace's own session still holding rows (a process that died between its INSERT and that
  check) moves them too, so any later span or resend of the trace heals it.
- **A move** inserts the trace's rows under the named session (the materialized view
  widens its `sessions_agg` span), then deletes them under the trace's session, then that
  session's `sessions_agg` rows; the trace's own session event is dropped and its name goes
  to the named session's placeholder. Until the delete, a reader may see a moved span under
  both sessions for a moment (never under neither).
- **Placeholder names** (the trace's root span) are rows of `sessions_agg.name`, an
  `argMin` by arrival: the first name given wins, as "a placeholder still 'unknown' takes
  the name" on the other backends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hivelog.event import Event
from hivelog.store.base import Project, WriteEvents
from hivelog.store.clickhouse.connection import REAL_COLUMNS, VERSION_AT, ClickHouseBase, chunked
from hivelog.store.clickhouse.rows import (
    INSERT_SETTINGS,
    INSERT_SQL,
    event_line,
    next_arrival,
    with_project,
)
from hivelog.store.clickhouse.transport import literal
from hivelog.store.rows import row_to_event
from hivelog.store.traces import named_links, relink_job, trace_hex

_SYNC = {"mutations_sync": 2, "lightweight_deletes_sync": 2}
# A session's sessions_agg rows from the events it holds now: the materialized view's SELECT
# (m0001), over `events FINAL` of that one session.
_REBUILD = (
    "INSERT INTO sessions_agg (project, session_id, day, span_start, span_end, has_start, "
    "first_start, last_end, first_arrival, source) "
    "SELECT project, session_id, toDate(toDateTime(intDiv(start_time, 1000), 'UTC')) AS day, "
    "min(start_time), max(start_time), max(event_id = session_id), "
    "minIf(toNullable(start_time), event_type != 'session'), "
    "maxIf(toNullable(end_time), event_type != 'session'), "
    "minIf(toNullable(arrival), event_type != 'session'), "
    "argMinState(toString(source), if(event_type != 'session', arrival, 18446744073709551615)) "
    "FROM events FINAL WHERE project = ? AND session_id = ? GROUP BY project, session_id, day"
)
TraceKey = tuple[int, str]  # (project key, the trace's own session id)


def _pairs(keys: Iterable[tuple[int, str]]) -> str:
    return "[" + ", ".join(f"({k}, {literal(v)})" for k, v in keys) + "]"


class Traces(ClickHouseBase):
    """The trace steps of `Writes._store`: link and relink before the INSERT, settle after."""

    def _link_and_relink(
        self, jobs: Sequence[tuple[WriteEvents, Project]]
    ) -> list[tuple[int, str, str, int, int]]:
        """Record the sessions the jobs' traces name, rewrite each job's events of mapped
        traces to their session (`traces.relink`), and return the names placeholders take:
        (project key, session, name, a start time of the session, arrival)."""
        named = sorted({(p.key, t, s, r) for job, p in jobs for t, s, r in named_links(job.traces)})
        for chunk in chunked(named):
            lines = [f"({k}, {literal(t)}, {literal(s)}, {int(r)})" for k, t, s, r in chunk]
            self._command(
                "INSERT INTO trace_sessions (project, trace_session, session_id, rank) "
                f"VALUES {', '.join(lines)}",
                (),
                self.insert_settings(),
            )
        found = self._mapping({(p.key, t) for job, p in jobs for t in job.traces})
        mapping = {trace: session for trace, (session, _) in found.items()}
        names: list[tuple[int, str, str, int, int]] = []
        for job, project in jobs:
            mine = {t: s for (k, t), s in mapping.items() if k == project.key and t in job.traces}
            placeholder_names = relink_job(job, mine)
            starts: dict[str, int] = {}
            for e in job.heads():
                if e.event_type != "session":
                    starts.setdefault(e.session_id, e.start_time)
            for session, name in placeholder_names.items():
                if session in starts:
                    names.append((project.key, session, name, starts[session], next_arrival()))
        return names

    def _mapping(self, traces: Iterable[TraceKey]) -> dict[TraceKey, tuple[str, list[str]]]:
        """For each of these traces that any span named a session for: the session it belongs
        to (the least (rank, session)) and every session named for it."""
        out: dict[TraceKey, tuple[str, list[str]]] = {}
        for keys in chunked(sorted(traces)):
            for k, t, s, named in self._query(
                "SELECT project, trace_session, argMin(session_id, (rank, session_id)), "
                f"groupUniqArray(session_id) FROM trace_sessions WHERE (project, trace_session) "
                f"IN {_pairs(keys)} GROUP BY project, trace_session"
            ):
                out[(int(k), t)] = (s, list(named))
        return out

    def _name_placeholders(self, names: Sequence[tuple[int, str, str, int, int]]) -> None:
        """The first name given to each session, for its placeholder (sessions_agg.name)."""
        for chunk in chunked(names):
            self._add_names(chunk)

    def _add_names(self, names: Sequence[tuple[int, str, str, int, int]]) -> None:
        values = ", ".join(
            f"({k}, {literal(s)}, {int(start)}, {literal(n)}, {int(arrival)})"
            for k, s, n, start, arrival in names
        )
        self._command(
            "INSERT INTO sessions_agg (project, session_id, day, span_start, span_end, name) "
            "SELECT project, session_id, toDate(toDateTime(intDiv(start, 1000), 'UTC')), "
            "start, start, arrayReduce('argMinState', [name], [arrival]) FROM values("
            "'project UInt64, session_id String, start Int64, name String, arrival UInt64', "
            f"{values})",
            (),
            self.insert_settings(),
        )

    def _settle_traces(self, traces: set[TraceKey]) -> set[tuple[int, str]]:
        """After the INSERT: move what is stored of these traces outside the session each
        belongs to now — under the trace's own session, or in a session it was mapped to
        before a span named one that outranks it. Returns the (project, event_id) moved."""
        mapping = self._mapping(traces)
        if not mapping:
            return set()
        held = [
            row
            for keys in chunked(sorted(mapping))
            for row in self._query(
                "SELECT DISTINCT project, session_id FROM sessions_agg "
                f"WHERE (project, session_id) IN {_pairs(keys)}"
            )
        ]
        moved: set[tuple[int, str]] = set()
        for key, trace in sorted((int(k), t) for k, t in held):
            moved |= self._move_trace(key, trace, mapping[(key, trace)][0])
        left = {t: (s, [n for n in named if n != s]) for t, (s, named) in mapping.items()}
        for (key, trace), session, out_of in self._outranked(left):
            moved |= self._move_out(key, trace, out_of, session)
        return moved

    def _outranked(
        self, left: dict[TraceKey, tuple[str, list[str]]]
    ) -> list[tuple[TraceKey, str, str]]:
        """(trace, the session it belongs to, a session it left that holds spans of it)."""
        out: list[tuple[TraceKey, str, str]] = []
        by_project: dict[int, dict[str, TraceKey]] = {}
        sessions: dict[int, set[str]] = {}
        for (key, trace), (_, others) in left.items():
            if others:
                by_project.setdefault(key, {})[trace_hex(trace)] = (key, trace)
                sessions.setdefault(key, set()).update(others)
        for key, traces in by_project.items():
            for session, hexed in self._query(
                "SELECT DISTINCT session_id, JSONExtractString(metadata, 'otel', 'trace_id') "
                "AS t FROM events WHERE project = ? AND session_id IN "
                f"{literal(sorted(sessions[key]))} AND event_id != session_id "
                f"AND t IN {literal(sorted(traces))}",
                (key,),
            ):
                trace_key = traces[hexed]
                if session in left[trace_key][1]:
                    out.append((trace_key, left[trace_key][0], session))
        return sorted(out)

    def _move_out(self, key: int, trace: str, left: str, session: str) -> set[tuple[int, str]]:
        """The trace's spans stored in `left` (a session it no longer belongs to) move to
        `session`; `left` keeps what other traces put there (its `sessions_agg` rebuilt from
        what it still holds: a placeholder left empty is gone, its name naming `session`)."""
        rows = self._query(
            f"SELECT {REAL_COLUMNS} FROM events FINAL WHERE project = ? AND session_id = ? "
            "AND event_id != session_id "
            "AND JSONExtractString(metadata, 'otel', 'trace_id') = ?",
            (key, left, trace_hex(trace)),
        )
        if not rows:
            return set()
        ids = self._relocate(key, rows, left, session)
        found = self._query(
            "SELECT argMinMerge(name) FROM sessions_agg WHERE project = ? AND session_id = ?",
            (key, left),
        )
        name = str(found[0][0]) if found else ""
        self.transport.execute(
            f"DELETE FROM {self._local('sessions_agg')} WHERE project = ? AND session_id = ?",
            (key, left),
            None,
            _SYNC,
        )
        self._command(_REBUILD, (key, left), self.insert_settings())
        still = self._query(
            "SELECT count() FROM sessions_agg WHERE project = ? AND session_id = ?", (key, left)
        )
        start = min(int(r[7]) for r in rows)
        if name and int(still[0][0]):
            self._name_placeholders([(key, left, name, start, 0)])
        elif name:
            self._name_placeholders([(key, session, name, start, next_arrival())])
        return {(key, e) for e in ids}

    def _move_trace(self, key: int, trace: str, session: str) -> set[tuple[int, str]]:
        """What is stored under `trace`'s own session moves to `session`; the trace's session
        event gives way to it (its name naming `session`'s placeholder)."""
        rows = self._query(
            f"SELECT {REAL_COLUMNS} FROM events FINAL WHERE project = ? AND session_id = ?",
            (key, trace),
        )
        names: list[tuple[int, str, str, int, int]] = []
        spans = []
        for row in rows:
            if row[1] == trace:  # the trace's own session event: its name names `session`
                names.append((key, session, row[5], int(row[7]), int(row[0])))
            else:
                spans.append(row)
        ids = self._relocate(key, spans, trace, session)
        if names:  # gone, as on the other backends: its id may be stored again
            self.transport.execute(
                f"DELETE FROM {self._local('event_ids')} WHERE project = ? AND event_id = ?",
                (key, trace),
                None,
                _SYNC,
            )
            self.transport.execute(
                f"DELETE FROM {self._local('events')} WHERE project = ? AND session_id = ? "
                "AND event_id = ?",
                (key, trace, trace),
                None,
                _SYNC,
            )
        self.transport.execute(
            f"DELETE FROM {self._local('sessions_agg')} WHERE project = ? AND session_id = ?",
            (key, trace),
            None,
            _SYNC,
        )
        self._name_placeholders(names)
        return {(key, e) for e in ids}

    def _relocate(self, key: int, rows: list[list[Any]], left: str, session: str) -> list[str]:
        """Rows (REAL_COLUMNS) of session `left` written again under `session` (a parent that
        was `left` becomes `session`; arrival and version kept, so two processes moving the
        same row write the same row), then deleted under `left`. Returns their ids."""
        lines: list[bytes] = []
        for row in rows:
            event: Event = row_to_event(row)
            event.session_id = session
            if event.parent_id == left:
                event.parent_id = session
            event.duration = float(event.duration)
            lines.append(with_project(key, event_line(event, int(row[0]), int(row[VERSION_AT]))))
        if lines:
            self._insert(INSERT_SQL, lines, INSERT_SETTINGS)
        ids = sorted(str(r[1]) for r in rows)
        for chunk in chunked(ids):
            self.transport.execute(
                f"DELETE FROM {self._local('events')} WHERE project = ? AND session_id = ? "
                f"AND event_id IN {literal(chunk)}",
                (key, left),
                None,
                _SYNC,
            )
        return ids
