"""Reads for the web UI and charts: sessions with their statistics, outlines, chart buckets.

Why a module of its own: these aggregate rather than return events as stored, in SQL of their
own; they read the events as stored after the writer's fold (an update lags only while a
concurrent writer elsewhere has yet to fold it, see docs/scaling.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hivelog.event import Event
from hivelog.query.filters import CLICKHOUSE
from hivelog.store.base import (
    ChartPoint,
    ChartSpec,
    EventBrief,
    EventQuery,
    Project,
    SessionPreview,
    SessionStats,
)
from hivelog.store.clickhouse.connection import SELECT, events_of
from hivelog.store.clickhouse.reads import Reads, where_of
from hivelog.store.clickhouse.transport import literal
from hivelog.store.rows import row_to_event, whole

_number = CLICKHOUSE.json_number
_TOKENS = (
    f"coalesce({_number('metadata', ['total_tokens'])}, "
    f"coalesce({_number('metadata', ['prompt_tokens'])}, 0) "
    f"+ coalesce({_number('metadata', ['completion_tokens'])}, 0))"
)
_PRICED = "ifNull(JSONType(metadata, 'cost') IN ('Int64', 'UInt64', 'Double'), 0)"
_SESSION_STATS = (
    "SELECT session_id, countIf(event_id != session_id), "
    "countIf(event_id != session_id AND event_type = 'model'), countIf(error IS NOT NULL), "
    f"sumIf({_TOKENS}, event_id != session_id AND metadata IS NOT NULL), "
    # Compensated (Kahan) sums: the same total whatever order the engine adds rows in, as the
    # other backends' exact sums give (2.8, not 2.8000000000000003).
    f"sumKahanIf({_number('metadata', ['cost'])}, event_id != session_id AND {_PRICED}), "
    "min(start_time), max(end_time), "
    f"countIf(event_id != session_id AND {_PRICED}), "
    f"countIf(event_id != session_id AND event_type = 'model' AND NOT {_PRICED}) "
    "FROM {events} WHERE session_id IN {ids} GROUP BY session_id"
)
# Per session, its first event with inputs and its last with outputs, model calls first.
_HAS_INPUTS = "inputs IS NOT NULL AND event_id != session_id AND session_id IN {ins}"
_HAS_OUTPUTS = "outputs IS NOT NULL AND event_id != session_id AND session_id IN {outs}"
_FIRST = "(event_type != 'model', start_time, seq)"
_SESSION_PREVIEWS = (
    f"SELECT session_id, argMinIf(inputs, {_FIRST}, {_HAS_INPUTS}), "
    f"argMinIf(event_type, {_FIRST}, {_HAS_INPUTS}), "
    f"argMaxIf(outputs, (event_type = 'model', start_time, seq), {_HAS_OUTPUTS}) "
    "FROM {events} WHERE session_id IN {ids} GROUP BY session_id"
)
_WEEK_MS, _MONDAY_MS = 7 * 86_400_000, 4 * 86_400_000  # 1970-01-05 was a Monday
_BUCKET_SQL = {
    "minute": "intDiv(start_time, 60000) * 60000",
    "hour": "intDiv(start_time, 3600000) * 3600000",
    "day": "intDiv(start_time, 86400000) * 86400000",
    "week": f"intDiv(start_time - {_MONDAY_MS}, {_WEEK_MS}) * {_WEEK_MS} + {_MONDAY_MS}",
    "month": "toInt64(toUnixTimestamp(toStartOfMonth(toDateTime(intDiv(start_time, 1000), "
    "'UTC')))) * 1000",
    "all": "toInt64(0)",
}


class Views(Reads):
    """The web UI's reads."""

    def background_work(self) -> bool:
        """Nothing is deferred: search scans, and the writer folds updates as it stores them."""
        return False

    def list_projects(self) -> list[Project]:
        rows = self._read(
            "SELECT key, argMin(project_id, (created_at, project_id)), any(name) FROM projects "
            "GROUP BY key ORDER BY any(name)"
        )
        return [Project(key=int(k), project_id=pid, name=name) for k, pid, name in rows]

    def list_sessions(
        self, project: Project, sessions: EventQuery, events: EventQuery | None = None
    ) -> tuple[list[Event], int]:
        where = "event_type = 'session'"
        params: list[Any] = []
        if sessions.where:
            where += f" AND ({sessions.where})"
            params.extend(sessions.params)
        if events is not None and (events.where or events.search):
            inner, inner_params = where_of(project, events)
            where += (
                f" AND session_id IN (SELECT session_id FROM {events_of(project.key)} "
                f"WHERE {inner})"
            )
            params.extend(inner_params)
        # The page's ids first, reading only the columns the filter and the order need (with
        # FINAL every column read is read for every row), then those sessions' whole rows.
        page = self._read(
            f"SELECT event_id, count() OVER () FROM {events_of(project.key)} WHERE {where} "
            "ORDER BY start_time DESC, seq DESC LIMIT ? OFFSET ?",
            [*params, sessions.limit, sessions.offset],
        )
        if not page:
            count = self._read(
                f"SELECT count() FROM {events_of(project.key)} WHERE {where}", params
            )
            return [], int(count[0][0]) if count else 0
        ids = [r[0] for r in page]
        rows = self._rows(
            project,
            f"event_type = 'session' AND event_id IN {literal(ids)}",
            (),
            "ORDER BY start_time DESC, seq DESC",
            sessions=ids,
        )
        return [row_to_event(r) for r in rows], int(page[0][1])

    def session_stats(
        self, project: Project, session_ids: Sequence[str]
    ) -> dict[str, SessionStats]:
        ids = list(dict.fromkeys(session_ids))
        if not ids:
            return {}
        sql = _SESSION_STATS.format(events=events_of(project.key, False, ids), ids=literal(ids))
        out: dict[str, SessionStats] = {}
        for row in self._read(sql):
            out[row[0]] = SessionStats(
                num_events=int(row[1] or 0),
                num_model_events=int(row[2] or 0),
                errors=int(row[3] or 0),
                total_tokens=whole(None if row[4] is None else float(row[4])),
                cost=float(row[5] or 0),
                first_start=int(row[6]),
                last_end=int(row[7]),
                priced=int(row[8] or 0),
                unpriced=int(row[9] or 0),
            )
        return out

    def session_previews(
        self, project: Project, inputs_of: Sequence[str], outputs_of: Sequence[str]
    ) -> dict[str, SessionPreview]:
        ids = list(dict.fromkeys([*inputs_of, *outputs_of]))
        if not ids:
            return {}
        sql = _SESSION_PREVIEWS.format(
            events=events_of(project.key, False, ids),
            ids=literal(ids),
            ins=literal(list(inputs_of) or [""]),
            outs=literal(list(outputs_of) or [""]),
        )
        return {
            sid: SessionPreview(inputs, input_type or None, outputs)
            for sid, inputs, input_type, outputs in self._read(sql)
            if inputs is not None or outputs is not None
        }

    def session_outline(self, project: Project, session_id: str) -> list[EventBrief]:
        rows = self._read(
            "SELECT event_id, parent_id, event_type, event_name, start_time, end_time, "
            "duration, substringUTF8(error, 1, 200) "
            f"FROM {events_of(project.key, sessions=[session_id])} "
            "WHERE session_id = ? ORDER BY start_time, seq",
            (session_id,),
        )
        return [
            EventBrief(r[0], r[1], r[2], r[3], int(r[4]), int(r[5]), float(r[6]), r[7])
            for r in rows
        ]

    def chart(self, project: Project, query: EventQuery, spec: ChartSpec) -> list[ChartPoint]:
        bucket = _BUCKET_SQL[spec.bucket]
        group = f"toNullable(toString({spec.group}))" if spec.group else "NULL"
        where, params = where_of(project, query)
        inner = (
            f"SELECT {bucket} AS b, {group} AS g, toFloat64({spec.value}) AS v "
            f"FROM {events_of(project.key)} WHERE {where}"
        )
        if spec.aggregation == "quantile":
            # Nearest rank: the value at position ceil(q * n) of the n sorted values.
            sql = (
                "SELECT b, g, arraySort(groupArray(v))[toUInt64(greatest(1, "
                f"ceil({float(spec.quantile)!r} * count())))], count() FROM ({inner}) "
                "WHERE v IS NOT NULL GROUP BY b, g ORDER BY b, g"
            )
        elif spec.aggregation == "count":
            sql = f"SELECT b, g, count(), count() FROM ({inner}) GROUP BY b, g ORDER BY b, g"
        else:
            fn = {"sum": "sum", "avg": "avg", "min": "min", "max": "max"}[spec.aggregation]
            sql = f"SELECT b, g, {fn}(v), count(v) FROM ({inner}) GROUP BY b, g ORDER BY b, g"
        rows = self._read(sql, params)
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


__all__ = ["SELECT", "Views"]
