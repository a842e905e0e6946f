"""One trace, one session on ClickHouse: the trace → session mapping and moving a trace.

Why it differs from SQLite and PostgreSQL (store/base.py, "One trace, one session"): those
record the mapping and move a trace's stored spans inside one transaction, under a lock.
ClickHouse has no transactions, unique keys or locks, so the same end state is reached by
rules every process applies alike, whatever it has seen:

- **Which session wins** is a function of what is stored, not of who wrote first into a
  table: `trace_sessions` keeps one row per (trace, session named), and the winner is the
  first recorded (`version` = 2^62 − arrival; `argMax(session_id, version)`). A later row
  never changes it.
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

from hivelog.event import Event
from hivelog.store.base import Project, WriteEvents
from hivelog.store.clickhouse.connection import REAL_COLUMNS, VERSION_AT, ClickHouseBase, chunked
from hivelog.store.clickhouse.rows import (
    INSERT_SETTINGS,
    INSERT_SQL,
    ORIGINAL_TOP,
    event_line,
    next_arrival,
    with_project,
)
from hivelog.store.clickhouse.transport import literal
from hivelog.store.rows import row_to_event
from hivelog.store.traces import named_links, relink, session_names

_SYNC = {"mutations_sync": 2, "lightweight_deletes_sync": 2}
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
        named = sorted({(p.key, t, s) for job, p in jobs for t, s in named_links(job.traces)})
        if named:
            lines = [
                f"({k}, {literal(t)}, {literal(s)}, {ORIGINAL_TOP - next_arrival()})"
                for k, t, s in named
            ]
            self._command(
                "INSERT INTO trace_sessions (project, trace_session, session_id, version) "
                f"VALUES {', '.join(lines)}",
                (),
                self.insert_settings(),
            )
        mapping = self._mapping({(p.key, t) for job, p in jobs for t in job.traces})
        names: list[tuple[int, str, str, int, int]] = []
        for job, project in jobs:
            mine = {t: s for (k, t), s in mapping.items() if k == project.key and t in job.traces}
            dropped: dict[str, str] = {}
            if mine and job.events:
                job.events, dropped = relink(job.events, mine)
                job.rows = None
            starts: dict[str, int] = {}
            for e in job.events:
                if e.event_type != "session":
                    starts.setdefault(e.session_id, e.start_time)
            for session, name in session_names(job.traces, mine, dropped).items():
                if session in starts:
                    names.append((project.key, session, name, starts[session], next_arrival()))
        return names

    def _mapping(self, traces: Iterable[TraceKey]) -> dict[TraceKey, str]:
        """The session each of these traces belongs to, where any span of it named one."""
        out: dict[TraceKey, str] = {}
        for keys in chunked(sorted(traces)):
            for k, t, s in self._query(
                "SELECT project, trace_session, argMax(session_id, (version, session_id)) "
                f"FROM trace_sessions WHERE (project, trace_session) IN {_pairs(keys)} "
                "GROUP BY project, trace_session"
            ):
                out[(int(k), t)] = s
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
        """After the INSERT: move what is still stored under the own session of any of these
        traces that has a session now. Returns the (project, event_id) of moved events."""
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
            moved |= self._move_trace(key, trace, mapping[(key, trace)])
        return moved

    def _move_trace(self, key: int, trace: str, session: str) -> set[tuple[int, str]]:
        """What is stored under `trace`'s own session moves to `session`; the trace's session
        event gives way to it (its name naming `session`'s placeholder)."""
        rows = self._query(
            f"SELECT {REAL_COLUMNS} FROM events FINAL WHERE project = ? AND session_id = ?",
            (key, trace),
        )
        lines: list[bytes] = []
        ids: list[str] = []
        names: list[tuple[int, str, str, int, int]] = []
        for row in rows:
            event: Event = row_to_event(row)
            ids.append(event.event_id)
            if event.event_id == trace:  # the trace's own session event
                names.append((key, session, event.event_name, event.start_time, int(row[0])))
                continue
            event.session_id = session
            if event.parent_id == trace:
                event.parent_id = session
            event.duration = float(event.duration)
            lines.append(with_project(key, event_line(event, int(row[0]), int(row[VERSION_AT]))))
        if lines:
            self._insert(INSERT_SQL, lines, INSERT_SETTINGS)
        for chunk in chunked(sorted(ids)):
            self.transport.execute(
                f"DELETE FROM {self._local('events')} WHERE project = ? AND session_id = ? "
                f"AND event_id IN {literal(chunk)}",
                (key, trace),
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
        return {(key, e) for e in ids if e != trace}
