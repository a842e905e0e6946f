"""`GET /v1/events/chart`: buckets, aggregations, groups, filters and date ranges, checked
against numbers computed here from the events the test sent."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from typing import Any

import httpx
import pytest

T0 = int(dt.datetime(2026, 3, 4, 10, 0, tzinfo=dt.UTC).timestamp() * 1000)  # a Wednesday
HOUR = 3_600_000
MODELS = ("gpt-4o", "claude-3-5-sonnet")


def _events(session_id: str) -> list[dict[str, Any]]:
    """30 model events: 20 in the 10:00 hour, 10 in the 11:00 hour; durations 10, 20, ... ms."""
    out = []
    for k in range(30):
        out.append(
            {
                "event_type": "model",
                "event_name": "call",
                "session_id": session_id,
                "start_time": T0 + (k * 3 * 60_000 if k < 20 else HOUR + (k - 20) * 60_000),
                "duration": 10 * (k + 1),
                "config": {"model": MODELS[k % 2]},
                "metadata": {"cost": 0.5, "total_tokens": 100},
                "error": "boom" if k % 10 == 0 else None,
            }
        )
    return out


@pytest.fixture()
def seeded(client: httpx.Client, project: str) -> str:
    session_id = str(uuid.uuid4())
    r = client.post("/events/batch", json={"project": project, "events": _events(session_id)})
    assert r.status_code == 200, r.text
    return project


def chart(client: httpx.Client, project: str, **params: Any) -> dict[str, Any]:
    q = {"project": project}
    for k, v in params.items():
        q[k] = json.dumps(v) if isinstance(v, (dict, list)) else str(v)
    r = client.get("/v1/events/chart", params=q)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


MODEL_ONLY = [{"field": "event_type", "operator": "is", "value": "model"}]


def test_count_per_hour(client: httpx.Client, seeded: str) -> None:
    body = chart(client, seeded, aggregation="count", bucket="hour", filters=MODEL_ONLY)
    assert [(e["start_time"], e["count"], e["value"]) for e in body["events"]] == [
        (T0, 20, 20),
        (T0 + HOUR, 10, 10),
    ]
    assert body["totalEvents"] == 30
    assert body["events"][0]["bucket"] == "2026-03-04T10:00:00Z"


def test_default_is_average_duration_per_hour(client: httpx.Client, seeded: str) -> None:
    body = chart(client, seeded, filters=MODEL_ONLY)
    first = [10 * (k + 1) for k in range(20)]
    second = [10 * (k + 1) for k in range(20, 30)]
    assert body["bucket"] == "hour" and body["metric"] == "duration"
    assert [e["value"] for e in body["events"]] == [sum(first) / 20, sum(second) / 10]


@pytest.mark.parametrize(
    ("aggregation", "q"),
    [("p50", 0.5), ("median", 0.5), ("p75", 0.75), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)],
)
def test_percentiles_are_nearest_rank(
    client: httpx.Client, seeded: str, aggregation: str, q: float
) -> None:
    body = chart(client, seeded, aggregation=aggregation, bucket="day", filters=MODEL_ONLY)
    values = sorted(10 * (k + 1) for k in range(30))
    expected = values[max(1, math.ceil(q * len(values))) - 1]
    assert [e["value"] for e in body["events"]] == [expected]
    assert body["events"][0]["count"] == 30


def test_sum_min_max_of_a_json_metric(client: httpx.Client, seeded: str) -> None:
    for aggregation, expected in (("sum", 15.0), ("min", 0.5), ("max", 0.5), ("average", 0.5)):
        body = chart(client, seeded, metric="metadata.cost", aggregation=aggregation, bucket="1d")
        assert [e["value"] for e in body["events"]] == [expected], aggregation


def test_group_by_model(client: httpx.Client, seeded: str) -> None:
    body = chart(
        client, seeded, aggregation="count", bucket="day", groupBy="config.model",
        filters=MODEL_ONLY,
    )  # fmt: skip
    assert {e["group"]: e["count"] for e in body["events"]} == {
        "gpt-4o": 15,
        "claude-3-5-sonnet": 15,
    }


def test_error_rate(client: httpx.Client, seeded: str) -> None:
    body = chart(client, seeded, metric="error_rate", aggregation="avg", bucket="day",
                 filters=MODEL_ONLY)  # fmt: skip
    assert body["events"][0]["value"] == pytest.approx(3 / 30)


def test_filters_and_date_range(client: httpx.Client, seeded: str) -> None:
    body = chart(
        client, seeded, aggregation="count", bucket="hour",
        filters=[*MODEL_ONLY, {"field": "duration", "operator": "greater than", "value": 250}],
        dateRange={"$gte": "2026-03-04T10:30:00Z", "$lte": T0 + 2 * HOUR},
    )  # fmt: skip
    # durations > 250 ms are k >= 25, all in the 11:00 hour
    assert [(e["start_time"], e["count"]) for e in body["events"]] == [(T0 + HOUR, 5)]


def test_calendar_buckets(client: httpx.Client, seeded: str) -> None:
    week = chart(client, seeded, aggregation="count", bucket="week", filters=MODEL_ONLY)
    month = chart(client, seeded, aggregation="count", bucket="months", filters=MODEL_ONLY)
    minute = chart(client, seeded, aggregation="count", bucket="1m", filters=MODEL_ONLY)
    assert [e["bucket"] for e in week["events"]] == ["2026-03-02T00:00:00Z"]  # the Monday
    assert [e["bucket"] for e in month["events"]] == ["2026-03-01T00:00:00Z"]
    assert len(minute["events"]) == 30


def test_one_bucket_over_a_range_spanning_months(client: httpx.Client, seeded: str) -> None:
    """`bucket=all`: a percentile per model over the whole range, here February and March
    (the dashboard's per-model table); month buckets could not be combined into it."""
    feb = [
        {"event_type": "model", "event_name": "call", "start_time": T0 - 30 * 24 * HOUR + k,
         "duration": 1000 + k, "config": {"model": MODELS[k % 2]}}
        for k in range(10)
    ]  # fmt: skip
    r = client.post("/events/batch", json={"project": seeded, "events": feb})
    assert r.status_code == 200, r.text
    since = T0 - 40 * 24 * HOUR
    for aggregation, q in (("p50", 0.5), ("p95", 0.95)):
        body = chart(
            client, seeded, aggregation=aggregation, bucket="all", groupBy="config.model",
            filters=MODEL_ONLY, dateRange={"$gte": since},
        )  # fmt: skip
        assert body["bucket"] == "all"
        for model in MODELS:
            values = sorted(
                [10 * (k + 1) for k in range(30) if MODELS[k % 2] == model]
                + [1000 + k for k in range(10) if MODELS[k % 2] == model]
            )
            expected = values[max(1, math.ceil(q * len(values))) - 1]
            (item,) = [e for e in body["events"] if e["group"] == model]
            assert (item["value"], item["count"], item["start_time"]) == (expected, 20, since)


def test_auto_bucket_follows_the_range(client: httpx.Client, seeded: str) -> None:
    two_hours = {"$gte": T0, "$lte": T0 + 2 * HOUR}
    body = chart(client, seeded, aggregation="count", bucket="auto", dateRange=two_hours)
    assert body["bucket"] == "minute"


def test_classic_path_and_unknown_project(client: httpx.Client, seeded: str) -> None:
    r = client.get("/events/chart", params={"project": seeded, "aggregation": "count"})
    assert r.status_code == 200 and r.json()["totalEvents"] == 31  # 30 events + the session
    empty = chart(client, f"none-{uuid.uuid4().hex[:8]}", aggregation="count")
    assert empty["events"] == [] and empty["totalEvents"] == 0


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"aggregation": "mode"}, "aggregation"),
        ({"bucket": "fortnight"}, "bucket"),
        ({"metric": "nonsense.x"}, "metric"),
        ({"metric": "metadata"}, "metric"),
        ({"groupBy": "config..model"}, "groupBy"),
        ({"filters": '[{"field": "duration", "operator": "between", "value": 1}]'}, None),
        ({"dateRange": "yesterday"}, "dateRange"),
    ],
)
def test_bad_parameters_say_where(
    client: httpx.Client, seeded: str, params: dict[str, str], where: str | None
) -> None:
    r = client.get("/v1/events/chart", params={"project": seeded, **params})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    if where is not None:
        assert error["where"] == where
    assert error["message"]


def test_chart_is_in_the_openapi_document(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    assert "get" in doc["paths"]["/v1/events/chart"]
    assert "ChartOut" in doc["components"]["schemas"]


def test_tokens_metric_adds_prompt_and_completion(client: httpx.Client, project: str) -> None:
    sid = str(uuid.uuid4())
    events = [
        {"event_type": "model", "session_id": sid, "start_time": T0, "metadata": md}
        for md in (
            {"total_tokens": 100},
            {"prompt_tokens": 30, "completion_tokens": 12},
            {"prompt_tokens": 7},
            {},
        )
    ]
    client.post("/events/batch", json={"project": project, "events": events}).raise_for_status()
    body = chart(client, project, metric="tokens", aggregation="sum", bucket="day")
    assert [(e["value"], e["count"]) for e in body["events"]] == [(149.0, 3)]
