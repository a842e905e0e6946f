"""Reads for the web UI and charts (hivelog.ui, hivelog.query.aggregates), and the upkeep of
the search index. Contracts are in store/base.py.

The search index (FTS5 trigram) is filled by the writer thread in small slices when no write
is waiting: indexing in a trigger would cut ingest by an order of magnitude.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import Any

from hivelog.event import Event
from hivelog.store.base import (
    ChartPoint,
    ChartSpec,
    EventBrief,
    EventQuery,
    Project,
    SessionPreview,
    SessionStats,
)
from hivelog.store.rows import row_to_event, whole
from hivelog.store.sqlite.connection import SELECT, SqliteBase, chunks, marks

# One slice of background indexing. A write that arrives during a slice waits for it, and
# under load slices run between writes (`writer.Upkeep`), so this sets the tail of single-event
# latency: measured with `bench/ingest.py`'s single-event load (20,000 events, 32 connections,
# three alternated pairs), p99 24.7-27.0 ms with 10 ms slices and 19.0-20.3 ms with 4 ms, at
# 3-5% more requests/s; indexing a backlog while idle goes 8% slower (19,400 events/s against
# 21,200 in process), each slice's statements being paid more often.
_SLICE_SECONDS = 0.004


class SqliteViews(SqliteBase):
    _index_slice = 64  # rows per slice of background indexing; adapts to the measured cost

    def background_work(self) -> bool:
        """Index the next slice for search (writer thread, when no write waits): indexed rows
        whose text changed since (`search_stale`, migration m0008) first, then new rows.

        A slice aims at ~4 ms (`_SLICE_SECONDS`) so a write arriving meanwhile waits little;
        its size adapts to the measured cost per row. Returns True while rows are left to
        index.
        """
        conn = self._conn_w()
        stale = conn.execute(
            "SELECT max(seq), count(*) FROM (SELECT seq FROM search_stale ORDER BY seq LIMIT ?)",
            (self._index_slice,),
        ).fetchone()
        if stale[0] is not None:
            # The rows as they are now; their old text left the index when they changed.
            return self._index_slice_of(
                stale[1],
                "INSERT INTO events_fts (rowid, inputs, outputs) "
                "SELECT seq, unpack(inputs), unpack(outputs) "
                "FROM events WHERE seq IN (SELECT seq FROM search_stale WHERE seq <= ?1) "
                "AND (inputs IS NOT NULL OR outputs IS NOT NULL)",
                "DELETE FROM search_stale WHERE seq <= ?1",
                (stale[0],),
            )
        (mark,) = conn.execute("SELECT indexed_seq FROM search_state").fetchone()
        last = conn.execute(
            "SELECT max(seq) FROM (SELECT seq FROM events WHERE seq > ? ORDER BY seq LIMIT ?)",
            (mark, self._index_slice),
        ).fetchone()
        if last[0] is None:
            return False
        return self._index_slice_of(
            max(1, last[0] - mark),
            "INSERT INTO events_fts (rowid, inputs, outputs) "
            "SELECT seq, unpack(inputs), unpack(outputs) "
            "FROM events WHERE seq > ?2 AND seq <= ?1 "
            "AND (inputs IS NOT NULL OR outputs IS NOT NULL)",
            "UPDATE search_state SET indexed_seq = ?1",
            (last[0], mark),
        )

    def _index_slice_of(self, rows: int, index: str, done: str, params: tuple[int, ...]) -> bool:
        """Run one slice (`index`, then `done`, which records how far it got) in its own
        transaction, and size the next slice after its cost per row."""
        conn = self._conn_w()
        started = time.perf_counter()
        # The index is derived data and its progress is recorded in the same transaction, so
        # its commits need no fsync of their own: the next durable commit carries them.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(index, params)
            conn.execute(done, params[:1])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.execute("PRAGMA synchronous = FULL")
        per_row = (time.perf_counter() - started) / max(1, rows)
        self._index_slice = max(8, min(4000, int(_SLICE_SECONDS / max(per_row, 1e-6))))
        return True

    def list_projects(self) -> list[Project]:
        rows = self._conn_r().execute("SELECT key, project_id, name FROM projects ORDER BY name")
        return [Project(key=k, project_id=pid, name=name) for k, pid, name in rows]

    def list_sessions(
        self, project: Project, sessions: EventQuery, events: EventQuery | None = None
    ) -> tuple[list[Event], int]:
        with self._time_limit(project):
            conn = self._conn_r()
            # Session rows only, through the partial index: the planner left to itself counts
            # them on the (wider) time index, 1 M entries instead of 50 k.
            sessions_only = "events INDEXED BY events_sessions"
            where = "project = ? AND event_type = 'session'"
            params: list[Any] = [project.key]
            if sessions.where:
                where += f" AND ({sessions.where})"
                params.extend(sessions.params)
            if events is not None and (events.where or events.search):
                inner, inner_params = self._where(project, events)
                where += f" AND session_id IN (SELECT session_id FROM events WHERE {inner})"
                params.extend(inner_params)
            rows = conn.execute(
                f"SELECT {SELECT} FROM {sessions_only} WHERE {where} "
                "ORDER BY start_time DESC, seq DESC LIMIT ? OFFSET ?",
                (*params, sessions.limit, sessions.offset),
            ).fetchall()
            count = f"SELECT count(*) FROM {sessions_only} WHERE {where}"
            total = conn.execute(count, params).fetchone()
            return [row_to_event(r) for r in rows], total[0]

    def session_stats(
        self, project: Project, session_ids: Sequence[str]
    ) -> dict[str, SessionStats]:
        out: dict[str, SessionStats] = {}
        with self._time_limit(project):
            conn = self._conn_r()
            for chunk in chunks(list(dict.fromkeys(session_ids))):
                sql = _SESSION_STATS.format(marks=marks(len(chunk)))
                for row in conn.execute(sql, (project.key, *chunk)):
                    out[row[0]] = SessionStats(
                        num_events=row[1],
                        num_model_events=row[2] or 0,
                        errors=row[3] or 0,
                        total_tokens=whole(row[4]),
                        cost=float(row[5] or 0),
                        first_start=row[6],
                        last_end=row[7],
                        priced=row[8] or 0,
                        unpriced=row[9] or 0,
                    )
        return out

    def session_previews(
        self, project: Project, inputs_of: Sequence[str], outputs_of: Sequence[str]
    ) -> dict[str, SessionPreview]:
        out: dict[str, SessionPreview] = {}
        params = {"project": project.key, "ins": json.dumps(list(inputs_of))}
        params["outs"] = json.dumps(list(outputs_of))
        with self._time_limit(project):
            rows = self._conn_r().execute(_SESSION_PREVIEWS, params)
            for sid, inputs, input_type, outputs in rows:
                if inputs is not None or outputs is not None:
                    out[sid] = SessionPreview(inputs, input_type, outputs)
        return out

    def session_outline(self, project: Project, session_id: str) -> list[EventBrief]:
        with self._time_limit(project):
            rows = self._conn_r().execute(
                "SELECT event_id, parent_id, event_type, event_name, start_time, end_time, "
                "duration, substr(error, 1, 200) FROM events WHERE project = ? AND session_id = ? "
                "ORDER BY +start_time, seq",
                (project.key, session_id),
            )
            return [EventBrief(*row) for row in rows]

    def chart(self, project: Project, query: EventQuery, spec: ChartSpec) -> list[ChartPoint]:
        with self._time_limit(project):
            return self._chart(project, query, spec)

    def _chart(self, project: Project, query: EventQuery, spec: ChartSpec) -> list[ChartPoint]:
        bucket = _BUCKET_SQL[spec.bucket]
        group = spec.group or "NULL"
        where, params = self._where(project, query)
        inner = f"SELECT {bucket} AS b, {group} AS g, {spec.value} AS v FROM events WHERE {where}"
        if spec.aggregation == "quantile":
            # Nearest rank from each bucket's histogram of distinct values: a grouped count is
            # a third of the cost of ranking every row with a window function.
            sql = (
                f"SELECT b, g, v, count(*) FROM ({inner}) WHERE v IS NOT NULL "
                "GROUP BY b, g, v ORDER BY b, g, v"
            )
            return _quantiles(self._conn_r().execute(sql, params).fetchall(), spec.quantile)
        if spec.aggregation == "count":
            sql = f"SELECT b, g, count(*), count(*) FROM ({inner}) GROUP BY b, g ORDER BY b, g"
        else:
            fn = {"sum": "sum", "avg": "avg", "min": "min", "max": "max"}[spec.aggregation]
            sql = f"SELECT b, g, {fn}(v), count(v) FROM ({inner}) GROUP BY b, g ORDER BY b, g"
        rows = self._conn_r().execute(sql, params).fetchall()
        return [
            ChartPoint(
                bucket=int(b),
                group=None if g is None else str(g),
                value=None if v is None else float(v),
                count=int(n),
            )
            for b, g, v, n in rows
            if b is not None
        ]


_TOKENS = (
    "coalesce(json_extract(metadata, '$.total_tokens'), "
    "coalesce(json_extract(metadata, '$.prompt_tokens'), 0) "
    "+ coalesce(json_extract(metadata, '$.completion_tokens'), 0))"
)
_PRICED = "coalesce(json_type(metadata, '$.cost') IN ('integer', 'real'), 0)"
_SESSION_STATS = (
    "SELECT session_id, sum(event_id != session_id), "
    "sum(event_id != session_id AND event_type = 'model'), sum(error IS NOT NULL), "
    f"sum(CASE WHEN event_id != session_id AND metadata IS NOT NULL THEN {_TOKENS} END), "
    f"sum(CASE WHEN event_id != session_id AND {_PRICED} "
    "THEN json_extract(metadata, '$.cost') END), "
    "min(start_time), max(end_time), "
    f"sum(event_id != session_id AND {_PRICED}), "
    f"sum(event_id != session_id AND event_type = 'model' AND NOT {_PRICED}) "
    "FROM events WHERE project = ? AND session_id IN ({marks}) GROUP BY session_id"
)
# Per session, the row of its first event with inputs and of its last with outputs: each picked
# by `seq` alone on the session index (scalar columns only: no JSON is read while ranking a
# 10,000-event session), then that one row's JSON is read by its rowid.
# A session not asked for one of the two skips its subquery (CASE evaluates lazily).
_PICK = (
    "CASE WHEN sid IN (SELECT value FROM json_each(:{ids})) THEN "
    "(SELECT seq FROM events WHERE project = :project AND session_id = ids.sid "
    "AND event_id != session_id AND {field} IS NOT NULL "
    "ORDER BY event_type != 'model', start_time {order}, seq {order} LIMIT 1) END"
)
_SESSION_PREVIEWS = (
    "WITH ids(sid) AS (SELECT value FROM json_each(:ins) UNION SELECT value FROM "
    "json_each(:outs)), picked AS (SELECT sid, "
    f"{_PICK.format(ids='ins', field='inputs', order='ASC')} AS first_in, "
    f"{_PICK.format(ids='outs', field='outputs', order='DESC')} AS last_out FROM ids) "
    "SELECT sid, unpack(i.inputs), i.event_type, unpack(o.outputs) FROM picked "
    "LEFT JOIN events AS i ON i.seq = first_in LEFT JOIN events AS o ON o.seq = last_out"
)
_WEEK_MS, _MONDAY_MS = 7 * 86_400_000, 4 * 86_400_000  # 1970-01-05 was a Monday
_BUCKET_SQL = {
    "minute": "(start_time / 60000) * 60000",
    "hour": "(start_time / 3600000) * 3600000",
    "day": "(start_time / 86400000) * 86400000",
    "week": f"((start_time - {_MONDAY_MS}) / {_WEEK_MS}) * {_WEEK_MS} + {_MONDAY_MS}",
    "month": "CAST(strftime('%s', start_time / 1000, 'unixepoch', 'start of month') AS INTEGER)"
    " * 1000",
    "all": "0",
}


def _quantiles(rows: list[Any], q: float) -> list[ChartPoint]:
    """(bucket, group, value, count) rows ordered by bucket, group, value → the nearest-rank
    q-quantile of each (bucket, group): the value at position ceil(q * n) of the n sorted."""
    out: list[ChartPoint] = []
    start = 0
    while start < len(rows):
        b, g = rows[start][0], rows[start][1]
        end = start
        while end < len(rows) and rows[end][0] == b and rows[end][1] == g:
            end += 1
        n = sum(r[3] for r in rows[start:end])
        rank, seen = max(1, math.ceil(q * n)), 0
        for r in rows[start:end]:
            seen += r[3]
            if seen >= rank:
                out.append(ChartPoint(int(b), None if g is None else str(g), float(r[2]), n))
                break
        start = end
    return [p for p in out if p.bucket is not None]
