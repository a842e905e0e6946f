"""`GET /v1/events/chart` (and `/events/chart`): HoneyHive's chart route.

Query parameters: `metric` (default `duration`; a field, or `tokens` or `error_rate`),
`aggregation` (avg|average|mean|median|p50|p75|p90|p95|p99|count|sum|min|max, default avg),
`bucket` (minute|hour|day|week|month and their aliases, `all` for one bucket over the whole
range, or `auto`; default hour), `groupBy` (a field such as `config.model` or `event_name`),
`filters` and `dateRange` (JSON, as `GET /events` takes them; `dateRange` may also be
relative: `{"relative": "7d"}` or `7d`), `search` (text in inputs/outputs), `project`.
Answers `{"events": [{bucket, start_time, value, count, group?}...], "totalEvents": n}`.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from hivelog.query.aggregates import chart, relative_range
from hivelog.routes.http import (
    DEFAULT_PROJECT,
    check_filters,
    convert,
    json_response,
    named_project,
    store,
)
from hivelog.routes.read import _json_param
from hivelog.wire.rest import DateRange, EventFilterIn


def date_range_param(raw: Any) -> DateRange | None:
    """`{"$gte", "$lte"}`, `{"relative": "7d"}` or a bare `7d`; None when absent or empty."""
    if raw is None or raw == "" or raw == {}:
        return None
    if isinstance(raw, str):
        return relative_range(raw)
    if isinstance(raw, dict) and isinstance(raw.get("relative"), str):
        return relative_range(raw["relative"])
    return convert(raw, DateRange, "dateRange")


def filters_param(raw: Any) -> list[EventFilterIn]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, dict):
        raw = [raw]
    return convert(raw, list[EventFilterIn], "filters")


async def events_chart(request: Request) -> Response:
    """`GET /v1/events/chart`: aggregated, bucketed numbers over the events that match."""
    q = request.query_params
    s = store(request)
    project = await run_in_threadpool(s.find_project, named_project(request) or DEFAULT_PROJECT)
    filters = filters_param(_json_param(request, "filters"))
    check_filters(request, filters, "filters")
    result = await run_in_threadpool(
        lambda: chart(
            s,
            project,
            metric=q.get("metric"),
            aggregation=q.get("aggregation"),
            bucket=q.get("bucket"),
            group_by=q.get("groupBy") or q.get("group_by") or None,
            filters=filters,
            date_range=date_range_param(_json_param(request, "dateRange")),
            search=q.get("search") or None,
        )
    )
    return json_response(result.body())


class ChartItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One bucket (of one group): `value` is the aggregation over `count` events."""

    bucket: str  # the bucket's start, ISO 8601 UTC
    start_time: int  # the same, epoch ms
    value: float | None
    count: int
    group: str | None = None


class ChartOut(msgspec.Struct, kw_only=True):
    events: list[ChartItem]
    totalEvents: int  # noqa: N815 - the wire name
    metric: str
    aggregation: str
    bucket: str
    groupBy: str | None  # noqa: N815 - the wire name
