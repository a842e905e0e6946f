"""Numbers over many events: the session list's rows and the charts of `/v1/events/chart`.

Both take filters through `compile_query` (the one filter implementation) and leave the
heavy lifting to the store: a page of sessions costs two indexed queries plus one aggregate
query over just that page's sessions; a chart is one grouped query.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from hivelog.errors import BadInput
from hivelog.event import Event
from hivelog.normalize.times import to_ms
from hivelog.query.filters import (
    DIALECTS,
    NUMBER_COLUMNS,
    TEXT_COLUMNS,
    check_search,
    compile_query,
)
from hivelog.query.sessions import cost_of, session_span
from hivelog.store.base import (
    ChartPoint,
    ChartSpec,
    EventQuery,
    Project,
    SessionPreview,
    SessionStats,
    Store,
)
from hivelog.wire.rest import DateRange, EventFilterIn

# ---- session list --------------------------------------------------------------------------

_USER_KEYS = ("user_id", "user", "email", "username", "name", "id")


@dataclasses.dataclass(frozen=True)
class SessionRow:
    """One line of the sessions page."""

    session_id: str
    name: str
    source: str
    start_time: int
    duration: float  # ms, from the earliest start to the latest end of any of its events
    num_events: int
    num_model_events: int
    total_tokens: int
    cost: float | None  # None: no call of the session has a price (cost_status "unpriced")
    cost_status: str  # "complete", "partial" or "unpriced" (query.sessions.cost_of)
    errors: int
    user: str | None
    error: str | None  # the session event's own error
    feedback: dict[str, Any] = dataclasses.field(default_factory=dict)  # the session's own
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    first_input: str | None = None  # previews: the session's input, and its output
    last_output: str | None = None


def session_user(session: Event) -> str | None:
    """Who the session was for: the first user-like key of user_properties, then metadata."""
    for source in (session.user_properties, session.metadata):
        for key in _USER_KEYS:
            value = source.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "":
                return str(value)
    return None


def session_row(
    session: Event, stats: SessionStats | None, events: SessionPreview | None = None
) -> SessionRow:
    """A line of the sessions list; `events` (Store.session_previews) previews what the
    session was asked and answered when the session event itself does not say."""
    start, end = session_span(session, stats)
    if stats is None:
        stats = SessionStats(0, 0, int(session.error is not None), 0, 0.0, 0, 0)
    cost, cost_status = cost_of(stats.cost, stats.priced, stats.unpriced)
    return SessionRow(
        session_id=session.session_id,
        name=session.event_name,
        source=session.source,
        start_time=start,
        duration=float(end - start),
        num_events=stats.num_events,
        num_model_events=stats.num_model_events,
        total_tokens=stats.total_tokens,
        cost=cost,
        cost_status=cost_status,
        errors=stats.errors,
        user=session_user(session),
        error=session.error,
        feedback=session.feedback,
        metrics=session.metrics,
        first_input=first_input(session, events),
        last_output=last_output(session, events),
    )


# ---- previews: what a session was asked and answered ---------------------------------------

PREVIEW_CHARS = 1000  # the whole value on hover up to this; the cell shows what fits, with "…"
# Keys that name or identify rather than say something: never a preview on their own.
_NOT_TEXT = frozenset(("role", "type", "id", "tool_call_id", "name", "model", "mime_type"))
# Keys that usually hold what was said, tried first in this order.
_TEXT_KEYS = (
    "content", "text", "question", "query", "input", "prompt", "message", "answer", "output",
    "response", "result",
)  # fmt: skip
_decode = msgspec.json.Decoder(dict[str, Any]).decode


def first_input(session: Event, events: SessionPreview | None) -> str | None:
    """The session's first user input: the session event's own inputs (the first user
    message of a chat history), else those of its first model call (the last user message
    of its chat history: what the user asked that call), else of its first event."""
    own = preview(session.inputs, "user")
    if own or events is None or not events.inputs:
        return own
    return preview(_json(events.inputs), "user", last=events.input_type == "model")


def last_output(session: Event, events: SessionPreview | None) -> str | None:
    """The session's last output: the session event's own outputs (a client sets them when
    the session ends), else those of its last model call, else of its last event."""
    own = preview(session.outputs, "assistant", last=True)
    if own or events is None or not events.outputs:
        return own
    return preview(_json(events.outputs), "assistant", last=True)


def _json(text: str | bytes) -> Any:
    try:
        return _decode(text)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None


def preview(value: Any, role: str, last: bool = False) -> str | None:
    """The text a person would call the input (or output) in a JSON field: in a chat history
    the first message of `role` (with `last`, the last), else the first text found, the
    usual keys (content, text, question, …) before others; whitespace folded, cut short."""
    text = _find_text(value, role, last, depth=0)
    if text is None:
        return None
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS].rstrip() + "…"


def _find_text(value: Any, role: str, last: bool, depth: int) -> str | None:
    if depth > 8:  # stored JSON nests as deep as ingest allows; a preview needs little of it
        return None
    if isinstance(value, str):
        text = " ".join(value.split())
        return text or None
    if isinstance(value, list):
        for v in value:
            found = _find_text(v, role, last, depth + 1)
            if found:
                return found
        return None
    if not isinstance(value, dict):
        return None
    for key in ("chat_history", "messages"):
        history = value.get(key)
        if isinstance(history, list):
            said = [m for m in history if isinstance(m, dict) and m.get("role") == role]
            for message in reversed(said) if last else said:
                found = _find_text(message.get("content"), role, last, depth + 1)
                if found:
                    return found
    keys = [k for k in _TEXT_KEYS if k in value]
    keys += [k for k in value if k not in _TEXT_KEYS and k not in _NOT_TEXT]
    for key in keys:
        found = _find_text(value[key], role, last, depth + 1)
        if found:
            return found
    return None


def list_sessions(
    store: Store,
    project: Project,
    *,
    filters: Sequence[EventFilterIn] = (),
    date_range: DateRange | None = None,
    search: str | None = None,
    match_any_event: bool = False,
    page: int = 1,
    limit: int = 50,
) -> tuple[list[SessionRow], int]:
    """A page of sessions, newest first, with their numbers, and how many match in all.

    `filters` test the session event itself, or with `match_any_event` any event of the
    session; `search` finds sessions holding an event whose inputs or outputs contain it.
    `date_range` is on the start of the session and of the events that must match.
    """
    check_search(search)
    own = filters if not match_any_event else ()
    sessions = compile_query(store.dialect, own, date_range, limit, page, newest_first=True)
    events: EventQuery | None = None
    if (match_any_event and filters) or search:
        # The range applies to the events too: a session's events start within it (and the
        # time index then bounds the scan).
        base = compile_query(store.dialect, filters if match_any_event else (), date_range, 1, 1)
        events = dataclasses.replace(base, search=search or None)
    found, total = store.list_sessions(project, sessions, events)
    ids = [s.session_id for s in found]
    stats = store.session_stats(project, ids)
    # From the events only what the session event itself does not say.
    ask_inputs = [s.session_id for s in found if preview(s.inputs, "user") is None]
    ask_outputs = [s.session_id for s in found if preview(s.outputs, "assistant") is None]
    previews = (
        store.session_previews(project, ask_inputs, ask_outputs)
        if ask_inputs or ask_outputs
        else {}
    )
    return [
        session_row(s, stats.get(s.session_id), previews.get(s.session_id)) for s in found
    ], total


# ---- charts --------------------------------------------------------------------------------

BUCKET_ALIASES = {
    "minute": "minute", "minutes": "minute", "1m": "minute",
    "hour": "hour", "hours": "hour", "1h": "hour",
    "day": "day", "days": "day", "1d": "day",
    "week": "week", "weeks": "week", "1w": "week",
    "month": "month", "months": "month", "1M": "month",
    "all": "all", "none": "all",  # one bucket for the whole range
    "auto": "auto", "": "auto",
}  # fmt: skip
AGGREGATION_ALIASES: dict[str, tuple[str, float]] = {
    "avg": ("avg", 0.0), "average": ("avg", 0.0), "mean": ("avg", 0.0),
    "sum": ("sum", 0.0), "min": ("min", 0.0), "max": ("max", 0.0), "count": ("count", 0.0),
    "median": ("quantile", 0.5), "p50": ("quantile", 0.5), "p75": ("quantile", 0.75),
    "p90": ("quantile", 0.9), "p95": ("quantile", 0.95), "p99": ("quantile", 0.99),
}  # fmt: skip
BUCKET_MS = {
    "minute": 60_000,
    "hour": 3_600_000,
    "day": 86_400_000,
    "week": 7 * 86_400_000,
    "month": 30 * 86_400_000,
}
MAX_AUTO_BUCKETS = 240
_RELATIVE = re.compile(r"^\s*(\d+)\s*(m|min|h|d|w|mo)\s*$")
_RELATIVE_MS = {"m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_RELATIVE_MS |= {"w": 7 * 86_400_000, "mo": 30 * 86_400_000}
# Metric names that are not fields: what the dashboard charts besides plain fields.
_ERROR_METRICS = ("error", "errors", "error_rate")


@dataclasses.dataclass(frozen=True)
class Chart:
    points: list[ChartPoint]
    bucket: str
    aggregation: str
    metric: str
    group_by: str | None

    def body(self) -> dict[str, Any]:
        """The `/v1/events/chart` response: one item per bucket (and group), in time order."""
        items: list[dict[str, Any]] = []
        for p in self.points:
            item: dict[str, Any] = {
                "bucket": _iso(p.bucket),
                "start_time": p.bucket,
                "value": p.value,
                "count": p.count,
            }
            if self.group_by is not None:
                item["group"] = p.group
            items.append(item)
        return {
            "events": items,
            "totalEvents": sum(p.count for p in self.points),
            "metric": self.metric,
            "aggregation": self.aggregation,
            "bucket": self.bucket,
            "groupBy": self.group_by,
        }


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def relative_range(text: str, now_ms: int | None = None) -> DateRange:
    """`24h`, `7d`, `30m`, `2w`, `3mo` → the range from that long ago until now."""
    m = _RELATIVE.match(text)
    if m is None:
        raise BadInput(
            f"relative date range {text!r}: expected e.g. 30m, 24h, 7d, 2w, 3mo", "dateRange"
        )
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return DateRange(gte=now - int(m.group(1)) * _RELATIVE_MS[m.group(2)], lte=None)


def _field_sql(dialect: str, field: str, where: str, numeric: bool) -> str:
    """A field name as a SQL expression over one event row, checked by the filter compiler so
    metrics, groups and filters accept exactly the same names."""
    try:
        compile_query(dialect, [EventFilterIn(field=field, operator="exists")], None, 1, 1)
    except BadInput as exc:
        raise BadInput(exc.message, where) from None
    head, *path = field.strip().split(".")
    if head in NUMBER_COLUMNS or head in TEXT_COLUMNS:
        return head
    if not path:
        raise BadInput(f"{field!r} is a whole object; name a value in it: {head}.<key>", where)
    d = DIALECTS[dialect]
    return d.json_number(head, path) if numeric else d.json_text(head, path)


def _tokens_sql(dialect: str) -> str:
    """metadata.total_tokens, else prompt_tokens + completion_tokens, else NULL."""
    d = DIALECTS[dialect]
    total, prompt, completion = (
        d.json_number("metadata", [key])
        for key in ("total_tokens", "prompt_tokens", "completion_tokens")
    )
    return (
        f"CASE WHEN {total} IS NOT NULL THEN {total} "
        f"WHEN {prompt} IS NOT NULL OR {completion} IS NOT NULL "
        f"THEN coalesce({prompt}, 0) + coalesce({completion}, 0) END"
    )


def _auto_bucket(date_range: DateRange | None) -> str:
    if date_range is None:
        return "day"
    gte = to_ms(date_range.gte, "dateRange.$gte")
    lte = to_ms(date_range.lte, "dateRange.$lte")
    if gte is None:
        return "day"
    span = (lte if lte is not None else int(time.time() * 1000)) - gte
    for unit in ("minute", "hour", "day", "week"):
        if span <= BUCKET_MS[unit] * MAX_AUTO_BUCKETS:
            return unit
    return "month"


def chart(
    store: Store,
    project: Project | None,
    *,
    metric: str | None = None,
    aggregation: str | None = None,
    bucket: str | None = None,
    group_by: str | None = None,
    filters: Sequence[EventFilterIn] = (),
    date_range: DateRange | None = None,
    search: str | None = None,
) -> Chart:
    """HoneyHive's chart query: `aggregation` of `metric` per time bucket (and per `group_by`).

    `metric` is a field (`duration` by default, `metadata.cost`, `metrics.score`),
    `error_rate` (1 for an event with an error, else 0: with `avg`, the share of errors) or
    `tokens` (metadata.total_tokens, else prompt_tokens + completion_tokens). `bucket`
    omitted means hour as in HoneyHive; `auto` picks one from the date range (at most 240);
    `all` is one bucket for the whole range (a percentile of the range, which no sum of
    smaller buckets gives).
    """
    check_search(search)
    metric = (metric or "duration").strip()
    agg_name = (aggregation or "avg").strip()
    if agg_name.lower() not in AGGREGATION_ALIASES:
        raise BadInput(
            f"unknown aggregation {agg_name!r}; expected one of {', '.join(AGGREGATION_ALIASES)}",
            "aggregation",
        )
    agg, quantile = AGGREGATION_ALIASES[agg_name.lower()]
    unit_name = "hour" if bucket is None else bucket.strip()
    unit = BUCKET_ALIASES.get(unit_name) or BUCKET_ALIASES.get(unit_name.lower())
    if unit is None:
        raise BadInput(
            f"unknown bucket {bucket!r}; expected minute, hour, day, week, month, all or auto",
            "bucket",
        )
    if unit == "auto":
        unit = _auto_bucket(date_range)
    dialect = store.dialect
    if metric in _ERROR_METRICS:
        value = "CASE WHEN error IS NULL THEN 0 ELSE 1 END"
    elif metric == "tokens":
        value = _tokens_sql(dialect)
    else:
        value = _field_sql(dialect, metric, "metric", numeric=True)
        if value in TEXT_COLUMNS and agg != "count":
            raise BadInput(
                f"{metric!r} is text: only count applies to it; chart a number field "
                "(duration, metadata.cost, metrics.<name>) for other aggregations",
                "metric",
            )
    group = _field_sql(dialect, group_by, "groupBy", numeric=False) if group_by else None
    query = compile_query(dialect, filters, date_range, 1, 1, where="filters")
    if project is None:
        points: list[ChartPoint] = []
    else:
        spec = ChartSpec(value=value, group=group, bucket=unit, aggregation=agg, quantile=quantile)
        points = store.chart(project, dataclasses.replace(query, search=search or None), spec)
        if unit == "all":  # the one bucket starts where the range does
            start = to_ms(date_range.gte, "dateRange.$gte") if date_range is not None else None
            points = [dataclasses.replace(p, bucket=start or 0) for p in points]
    return Chart(points, unit, agg_name.lower(), metric, group_by)
