"""Reads for the web UI and charts: sessions with their statistics, outlines, chart buckets.

Why a module of its own: these aggregate rather than return events as stored — session
lists and per-session totals (tokens, cost, errors), a session's outline without its payloads,
and chart points bucketed by time in SQL — so they have SQL of their own.
"""

from __future__ import annotations

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
from hivelog.store.postgres.connection import _SELECT, PostgresBase
from hivelog.store.postgres.reads import _where
from hivelog.store.rows import row_to_event, whole


def _number(path: str) -> str:
    """A JSON number at `metadata -> path` as float8, anything else NULL."""
    value = f"(metadata -> '{path}')"
    return f"(CASE WHEN jsonb_typeof({value}) = 'number' THEN ({value} #>> '{{}}')::float8 END)"


_PRICED = "coalesce(jsonb_typeof(metadata -> 'cost') = 'number', false)"
_SESSION_STATS = (
    "SELECT session_id, count(*) FILTER (WHERE event_id <> session_id), "
    "count(*) FILTER (WHERE event_id <> session_id AND event_type = 'model'), "
    "count(*) FILTER (WHERE error IS NOT NULL), "
    # Summed as numeric: float8 sums past 1.8e308 are an error in PostgreSQL, not infinity.
    "sum(CASE WHEN event_id <> session_id AND metadata IS NOT NULL THEN coalesce("
    f"{_number('total_tokens')}::numeric, coalesce({_number('prompt_tokens')}::numeric, 0) "
    f"+ coalesce({_number('completion_tokens')}::numeric, 0)) END), "
    f"sum(CASE WHEN event_id <> session_id THEN {_number('cost')}::numeric END), "
    "min(start_time), max(end_time), "
    f"count(*) FILTER (WHERE event_id <> session_id AND {_PRICED}), "
    f"count(*) FILTER (WHERE event_id <> session_id AND event_type = 'model' AND NOT {_PRICED}) "
    "FROM events WHERE project = %s AND session_id = ANY(%s) GROUP BY session_id"
)
# Per session, its first event with inputs and its last with outputs: a top-1 of its own
# partition (the session's `day`, so one partition's index is read), model calls first; a
# session not asked for one of the two skips it (a one-time filter on the outer row).
_PICK = (
    "LEFT JOIN LATERAL (SELECT e.{field}, e.event_type FROM events AS e "
    "WHERE s.session_id = ANY(%({ids})s) "
    "AND e.project = s.project AND e.day = s.day AND e.session_id = s.session_id "
    "AND e.event_id <> e.session_id AND e.{field} IS NOT NULL "
    "ORDER BY e.event_type <> 'model', e.start_time {order}, e.seq {order} LIMIT 1) AS {name} "
    "ON true "
)
_SESSION_PREVIEWS = (
    "SELECT s.session_id, fi.inputs, fi.event_type, lo.outputs FROM sessions AS s "
    + _PICK.format(ids="ins", field="inputs", order="ASC", name="fi")
    + _PICK.format(ids="outs", field="outputs", order="DESC", name="lo")
    + "WHERE s.project = %(project)s "
    "AND (s.session_id = ANY(%(ins)s) OR s.session_id = ANY(%(outs)s))"
)
_WEEK_MS, _MONDAY_MS = 7 * 86_400_000, 4 * 86_400_000  # 1970-01-05 was a Monday
_BUCKET_SQL = {
    "minute": "(start_time / 60000) * 60000",
    "hour": "(start_time / 3600000) * 3600000",
    "day": "(start_time / 86400000) * 86400000",
    "week": f"((start_time - {_MONDAY_MS}) / {_WEEK_MS}) * {_WEEK_MS} + {_MONDAY_MS}",
    "month": "(extract(epoch FROM date_trunc('month', "
    "to_timestamp(start_time / 1000.0) AT TIME ZONE 'UTC')) * 1000)::int8",
    "all": "0::int8",
}


class Views(PostgresBase):
    """The web UI's reads (any thread, read-only pool)."""

    def background_work(self) -> bool:
        """Nothing is deferred on PostgreSQL: search reads the rows themselves."""
        return False

    def list_projects(self) -> list[Project]:
        with self._reader() as conn:
            rows = conn.execute("SELECT key, project_id, name FROM projects ORDER BY name")
            return [Project(key=k, project_id=pid, name=name) for k, pid, name in rows]

    def list_sessions(
        self, project: Project, sessions: EventQuery, events: EventQuery | None = None
    ) -> tuple[list[Event], int]:
        # `event_type = 'session'` spelled out so the partial index events_sessions serves.
        where = "project = %s AND event_type = 'session'"
        params: list[Any] = [project.key]
        if sessions.where:
            where += f" AND ({sessions.where})"
            params.extend(sessions.params)
        if events is not None and (events.where or events.search):
            inner, inner_params = _where(project, events)
            where += f" AND session_id IN (SELECT session_id FROM events WHERE {inner})"
            params.extend(inner_params)
        with self._reader(project) as conn:
            rows = conn.execute(
                f"SELECT {_SELECT} FROM events WHERE {where} "
                "ORDER BY start_time DESC, seq DESC LIMIT %s OFFSET %s",
                [*params, sessions.limit, sessions.offset],
            ).fetchall()
            total = conn.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone()
        return [row_to_event(r) for r in rows], int(total[0]) if total else 0

    def session_stats(
        self, project: Project, session_ids: Sequence[str]
    ) -> dict[str, SessionStats]:
        out: dict[str, SessionStats] = {}
        with self._reader(project) as conn:
            rows = conn.execute(
                _SESSION_STATS, (project.key, list(dict.fromkeys(session_ids)))
            ).fetchall()
        for row in rows:
            out[row[0]] = SessionStats(
                num_events=int(row[1] or 0),
                num_model_events=int(row[2] or 0),
                errors=int(row[3] or 0),
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
        params = {"project": project.key, "ins": list(inputs_of), "outs": list(outputs_of)}
        with self._reader(project) as conn:
            rows = conn.execute(_SESSION_PREVIEWS, params).fetchall()
        return {
            sid: SessionPreview(inputs, input_type, outputs)
            for sid, inputs, input_type, outputs in rows
            if inputs is not None or outputs is not None
        }

    def session_outline(self, project: Project, session_id: str) -> list[EventBrief]:
        with self._reader(project) as conn:
            rows = conn.execute(
                "SELECT event_id, parent_id, event_type, event_name, start_time, end_time, "
                "duration, substr(error, 1, 200) FROM events WHERE project = %s "
                "AND session_id = %s "
                "AND day = (SELECT day FROM sessions WHERE project = %s AND session_id = %s) "
                "ORDER BY start_time, seq",
                (project.key, session_id, project.key, session_id),
            ).fetchall()
        return [EventBrief(*row) for row in rows]

    def chart(self, project: Project, query: EventQuery, spec: ChartSpec) -> list[ChartPoint]:
        bucket = _BUCKET_SQL[spec.bucket]
        group = spec.group or "NULL"
        where, params = _where(project, query)
        inner = f"SELECT {bucket} AS b, {group} AS g, {spec.value} AS v FROM events WHERE {where}"
        if spec.aggregation == "quantile":
            # Nearest rank: the value at position ceil(q * n) of the sorted values.
            sql = (
                "SELECT b, g, v, n FROM (SELECT b, g, v, "
                "row_number() OVER (PARTITION BY b, g ORDER BY v) AS rn, "
                "count(*) OVER (PARTITION BY b, g) AS n "
                f"FROM ({inner}) AS x WHERE v IS NOT NULL) AS y "
                "WHERE rn = greatest(1, ceil(%s * n)::int8) ORDER BY b, g"
            )
            params = [*params, spec.quantile]
        elif spec.aggregation == "count":
            sql = f"SELECT b, g, count(*), count(*) FROM ({inner}) AS x GROUP BY b, g ORDER BY b, g"
        else:
            fn = {"sum": "sum", "avg": "avg", "min": "min", "max": "max"}[spec.aggregation]
            sql = f"SELECT b, g, {fn}(v), count(v) FROM ({inner}) AS x GROUP BY b, g ORDER BY b, g"
        with self._reader(project) as conn:
            rows = conn.execute(sql, params).fetchall()
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
