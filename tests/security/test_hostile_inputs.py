"""Stored input can never take a read down, and every limit holds for every way in.

Non-finite and huge numbers, ids past what an index can hold, impossible times, deep trees,
keys with a thousand dots, text metrics, over-long strings of every kind: each is refused with
a 4xx that says where, or stored in a form every reader shows — never a 5xx, on either backend.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Server
from tests.helpers import export, get_event, is_, post_ok, uid
from tests.otlp.otlp_helpers import (
    PROTOBUF,
    json_attrs,
    new_span,
    new_trace,
    pb_request,
    pb_span,
    post_pb,
    trace_uuid,
)
from tests.security.keyed import create_key, keyed_client

FIELD_BYTES = 4096


@pytest.fixture(scope="module")
def srv(database: str) -> Iterator[Server]:
    server = Server(database, ["--max-field-bytes", str(FIELD_BYTES)])
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def c(srv: Server) -> Iterator[httpx.Client]:
    with srv.client() as client:
        yield client


def pages(session_id: str, event_id: str) -> list[str]:
    """Every UI page and read route that shows a session or its events."""
    return [
        "/",
        "/ui/events",
        "/ui/dashboard",
        f"/ui/sessions/{session_id}",
        f"/ui/event/{event_id}",
        f"/v1/sessions/{session_id}",
        f"/v1/events/{event_id}",
        f"/session/{session_id}",
        "/events",
        "/v1/events/chart",
    ]


def assert_all_render(c: httpx.Client, project: str, session_id: str, event_id: str) -> None:
    for path in pages(session_id, event_id):
        r = c.get(path, params={"project": project})
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    r = c.post("/events/export", json={"project": project})
    assert r.status_code == 200, r.text[:300]


def otlp_json(trace: str, span: str, name: str, attributes: list[dict[str, Any]]) -> Any:
    """An OTLP/JSON export of one span, 5 ms long."""
    one = {
        "traceId": trace,
        "spanId": span,
        "name": name,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000005000000",
        "attributes": attributes,
    }
    return {"resourceSpans": [{"scopeSpans": [{"spans": [one]}]}]}


def span_event(c: httpx.Client, project: str, name: str) -> dict[str, Any]:
    """The stored event of the span called `name` (not the session its trace made)."""
    found = [e for e in export(c, project) if e["event_name"] == name]
    return next(e for e in found if e["event_type"] != "session")


def _error(r: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:300])
    error: dict[str, Any] = r.json()["error"]
    assert error["message"]
    return error


# ---- item 3: non-finite and out-of-range numbers -----------------------------------------


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_otlp_non_finite_numbers_are_stored_readably(
    c: httpx.Client, project: str, encoding: str
) -> None:
    trace, span = new_trace(), new_span()
    attrs: dict[str, Any] = {
        "honeyhive.project": project,
        "honeyhive_duration_ms": math.inf,
        "score.nan": math.nan,
        "score.low": -math.inf,
        "score.ok": 1.5,
    }
    if encoding == "protobuf":
        post_pb(c, pb_request([pb_span(trace, span, "inf", attrs)]))
    else:
        wire = json_attrs(attrs)
        for item in wire:  # OTLP/JSON spells the non-finite doubles as strings
            value = item["value"].get("doubleValue")
            if isinstance(value, float) and not math.isfinite(value):
                item["value"]["doubleValue"] = (
                    "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
                )
        body = otlp_json(trace, span, "inf", wire)
        r = c.post("/v1/traces", json=body)
        assert r.status_code == 200, r.text
    session = trace_uuid(trace)
    events = export(c, project)
    span_event = next(
        e for e in events if e["event_name"] == "inf" and e["event_type"] != "session"
    )
    assert span_event["duration"] == 5.0  # the span's own time, not infinity
    assert span_event["metadata"]["hivelog_clamped"] == {"duration": "Infinity"}
    assert span_event["metadata"]["score"] == {"nan": "NaN", "low": "-Infinity", "ok": 1.5}
    assert_all_render(c, project, session, span_event["event_id"])


def test_huge_integers_from_otlp_json_are_kept_as_numbers(c: httpx.Client, project: str) -> None:
    trace, span = new_trace(), new_span()
    attributes = [
        {"key": "honeyhive.project", "value": {"stringValue": project}},
        {"key": "n.big", "value": {"intValue": str(10**30)}},
        {"key": "n.huge", "value": {"intValue": "1" + "0" * 400}},
    ]
    body = otlp_json(trace, span, "big", attributes)
    r = c.post("/v1/traces", json=body)
    assert r.status_code == 200, r.text
    event = span_event(c, project, "big")
    assert float(event["metadata"]["n"]["big"]) == 1e30
    assert event["metadata"]["n"]["huge"] == "1" + "0" * 400
    assert_all_render(c, project, trace_uuid(trace), event["event_id"])


def test_rest_refuses_numbers_json_cannot_hold(c: httpx.Client, project: str) -> None:
    body = b'{"event": {"project": "%s", "event_type": "tool", "metrics": {"m": 1e400}}}' % (
        project.encode()
    )
    error = _error(c.post("/events", content=body, headers={"Content-Type": "application/json"}))
    assert error["where"].startswith("$.event.metrics")
    assert export(c, project) == []


def _overwrite(
    db: str, sql_sqlite: str, sql_pg: str, params: tuple[Any, ...], sql_ch: str = ""
) -> None:
    """Change stored rows behind the server's back, as an older version may have left them
    (on ClickHouse a mutation rewrites every stored version of the row)."""
    if db.startswith("clickhouse://"):
        from hivelog.store.clickhouse.transport import open_transport

        engine = open_transport(db)
        try:
            engine.execute(sql_ch, params, None, {"mutations_sync": 2})
        finally:
            engine.close()
        return
    if "://" in db:
        import psycopg

        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(sql_pg, params)  # type: ignore[arg-type]
        return
    with sqlite3.connect(db) as conn:
        conn.execute(sql_sqlite.replace("%s", "?"), params)


def test_pages_render_non_finite_numbers_already_stored(
    srv: Server, c: httpx.Client, project: str
) -> None:
    session = uid()
    post_ok(c, "/session/start", {"session": {"project": project, "session_id": session}})
    child = uid()
    tokens = {"total_tokens": 1e308, "prompt_tokens": 1e308, "cost": 1e308}
    post_ok(
        c,
        "/events/batch",
        {
            "project": project,
            "events": [
                {"event_id": child, "session_id": session, "event_type": "model",
                 "metadata": tokens},
                {"event_id": uid(), "session_id": session, "event_type": "model",
                 "metadata": tokens},
            ],
        },
    )  # fmt: skip
    _overwrite(
        srv.db,
        "UPDATE events SET duration = 9e999, end_time = 9000000000000000000 WHERE event_id = %s",
        "UPDATE events SET duration = 'Infinity', end_time = 9000000000000000000 "
        "WHERE event_id = %s",
        (child,),
        "ALTER TABLE events UPDATE duration = inf, end_time = 9000000000000000000 "
        "WHERE event_id = ?",
    )
    _overwrite(
        srv.db,
        "UPDATE events SET duration = -9e999 WHERE event_id = %s",
        "UPDATE events SET duration = 'NaN' WHERE event_id = %s",
        (session,),
        "ALTER TABLE events UPDATE duration = -inf WHERE event_id = ?",
    )
    assert_all_render(c, project, session, child)
    for metric in ("metadata.cost", "tokens", "duration"):
        for aggregation in ("sum", "avg", "max", "p95"):
            params = {"project": project, "metric": metric, "aggregation": aggregation}
            r = c.get("/v1/events/chart", params=params)
            assert r.status_code < 500, (metric, aggregation, r.text[:300])
    r = c.get("/", params={"project": project})
    assert "Infinity" in r.text or "NaN" in r.text


# ---- item 5: OTLP spans naming their project by id ----------------------------------------


def test_otlp_project_named_by_id_lands_in_that_project(c: httpx.Client, project: str) -> None:
    started = post_ok(c, "/session/start", {"session": {"project": project}})
    project_id = started["project_id"]
    trace = new_trace()
    post_pb(c, pb_request([pb_span(trace, new_span(), "by-id", {"honeyhive.project": project_id})]))
    names = [e["event_name"] for e in export(c, project)]
    assert "by-id" in names
    assert export(c, project_id) == export(c, project)  # reads by id find the same project
    r = c.post("/events", json={"event": {"project": project_id, "event_type": "tool",
                                          "event_name": "rest-by-id"}})  # fmt: skip
    assert r.status_code == 200, r.text
    assert "rest-by-id" in [e["event_name"] for e in export(c, project)]


def test_keyed_otlp_project_named_by_id(backend: str, fresh_database: str, project: str) -> None:
    key = create_key(fresh_database, project)
    server = Server(fresh_database)
    server.start()
    try:
        with keyed_client(server, key) as c:
            started = post_ok(c, "/session/start", {"session": {"event_name": "s"}})
            trace = new_trace()
            attrs = {"honeyhive.project": started["project_id"]}
            post_pb(c, pb_request([pb_span(trace, new_span(), "keyed-by-id", attrs)]))
            assert "keyed-by-id" in [e["event_name"] for e in export(c, project)]
            r = c.get("/ui/events")
            assert r.status_code == 200 and "keyed-by-id" in r.text
    finally:
        server.stop()


# ---- item 7: one set of query limits for every way in -------------------------------------


def _filters(n: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for i in range(n):
        out += [("f", "event_name"), ("op", "is not"), ("v", f"x{i}")]
    return out


@pytest.mark.parametrize("path", ["/", "/ui/events"])
def test_ui_pages_hold_to_the_filter_limit(c: httpx.Client, project: str, path: str) -> None:
    post_ok(c, "/session/start", {"session": {"project": project}})
    r = c.get(path, params=[("project", project), *_filters(600)])
    assert r.status_code == 200 and "--max-filters" in r.text, r.text[:300]
    r = c.get(path, params=[("project", project), *_filters(3)])
    assert r.status_code == 200 and "--max-filters" not in r.text


@pytest.mark.parametrize("path", ["/", "/ui/events"])
def test_ui_pages_hold_to_the_search_limit(c: httpx.Client, project: str, path: str) -> None:
    post_ok(c, "/session/start", {"session": {"project": project}})
    long = " ".join(f"w{i}xyz" for i in range(1200))
    r = c.get(path, params={"project": project, "q": long})
    assert r.status_code == 200 and "--max-search-chars" in r.text, r.text[:300]
    many = " ".join(f"w{i}" for i in range(40))  # short enough, but 40 words
    r = c.get(path, params={"project": project, "q": many})
    assert r.status_code == 200 and "words is over the limit" in r.text


def test_api_holds_to_the_same_limits(c: httpx.Client, project: str) -> None:
    r = c.get("/v1/events/chart", params={"project": project, "search": "x" * 300})
    assert _error(r)["where"] == "search"
    filters = [is_("event_name", f"x{i}") for i in range(51)]
    r = c.post("/events/export", json={"project": project, "filters": filters})
    assert "--max-filters" in _error(r)["message"]


# ---- item 8: deep trees -------------------------------------------------------------------

DEPTH = 1500


def deep_json(text: str) -> Any:
    """Python's json module parses with recursion: give it the stack the answer needs."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10 * DEPTH)
    try:
        return json.loads(text)
    finally:
        sys.setrecursionlimit(limit)


def test_deep_session_reads(c: httpx.Client, project: str) -> None:
    session = uid()
    parent, events = session, []
    for i in range(DEPTH):
        event_id = uid()
        events.append({"event_id": event_id, "session_id": session, "parent_id": parent,
                       "event_type": "chain", "event_name": f"level {i}"})  # fmt: skip
        parent = event_id
    post_ok(c, "/events/batch", {"project": project, "events": events})
    r = c.get(f"/v1/sessions/{session}", params={"project": project})
    assert r.status_code == 200, r.text[:300]
    node, depth = deep_json(r.text), 0
    while node["children"]:
        (node,) = node["children"]
        depth += 1
    assert depth == DEPTH and node["event_name"] == f"level {DEPTH - 1}"
    r = c.get(f"/v1/events/{events[0]['event_id']}", params={"project": project})
    assert r.status_code == 200
    assert deep_json(r.text)["event"]["event_name"] == "level 0"
    assert "children" not in deep_json(r.text)["event"]
    assert_all_render(c, project, session, events[-1]["event_id"])


# ---- item 9: the 5xx that are 4xx -----------------------------------------------------------


def test_otlp_key_with_a_thousand_dots(c: httpx.Client, project: str) -> None:
    key = ".".join(f"k{i}" for i in range(1000))
    trace = new_trace()
    attrs = {"honeyhive.project": project, key: "deep"}
    r = c.post("/v1/traces", content=pb_request([pb_span(trace, new_span(), "dots", attrs)]),
               headers=PROTOBUF)  # fmt: skip
    assert r.status_code < 500, r.text[:300]
    if r.status_code == 200:  # stored: the key nests a bounded depth, its rest stays whole
        event = span_event(c, project, "dots")
        text = str(event["metadata"])
        assert "'k30': {'k31.k32.k33" in text and "'deep'" in text
        assert_all_render(c, project, trace_uuid(trace), event["event_id"])


@pytest.mark.parametrize(
    ("metric", "aggregation"), [("event_name", "min"), ("source", "max"), ("event_id", "p95")]
)
def test_chart_of_a_text_field(
    c: httpx.Client, project: str, metric: str, aggregation: str
) -> None:
    post_ok(c, "/session/start", {"session": {"project": project, "event_name": "a name"}})
    params = {"project": project, "metric": metric, "aggregation": aggregation}
    assert _error(c.get("/v1/events/chart", params=params))["where"] == "metric"
    params["aggregation"] = "count"
    assert c.get("/v1/events/chart", params=params).status_code == 200


@pytest.mark.parametrize(
    ("name", "value"), [("limit", "1e400"), ("page", "inf"), ("page", "-inf"), ("limit", "nan")]
)
def test_get_events_paging_beyond_numbers(c: httpx.Client, name: str, value: str) -> None:
    assert _error(c.get("/events", params={name: value}))["where"] == name


def test_nul_in_search(c: httpx.Client, project: str) -> None:
    post_ok(c, "/session/start", {"session": {"project": project, "inputs": {"q": "abc"}}})
    for path in ("/", "/ui/events"):
        r = c.get(path, params={"project": project, "q": "abc\x00def"})
        assert r.status_code == 200, r.text[:300]
    r = c.get("/v1/events/chart", params={"project": project, "search": "ab\x00cd"})
    assert r.status_code == 200, r.text[:300]


@pytest.mark.parametrize(
    ("field", "operator"),
    [("metadata", "is"), ("inputs", "greater than"), ("children_ids", "is not"), ("config", "<")],
)
def test_filter_on_a_whole_json_column(
    c: httpx.Client, project: str, field: str, operator: str
) -> None:
    f = {"field": field, "operator": operator, "value": "x"}
    r = c.post("/events/export", json={"project": project, "filters": [f]})
    assert _error(r)["where"] == "$.filters[0].field"
    f = {"field": field, "operator": "contains", "value": "x"}
    assert c.post("/events/export", json={"project": project, "filters": [f]}).status_code == 200


def test_otlp_start_time_past_any_date(c: httpx.Client, project: str) -> None:
    span = {"traceId": new_trace(), "spanId": new_span(), "name": "far",
            "startTimeUnixNano": str(10**30), "endTimeUnixNano": str(10**30)}  # fmt: skip
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    error = _error(c.post("/v1/traces", json=body, params={"project": project}))
    assert "startTimeUnixNano" in error["where"]


@pytest.mark.parametrize("field", ["event_id", "session_id", "parent_id", "project"])
def test_ids_over_the_documented_length(c: httpx.Client, project: str, field: str) -> None:
    long_id = os.urandom(1500).hex()  # random: PostgreSQL cannot compress it below its limit
    event: dict[str, Any] = {"project": project, "event_type": "tool", "event_name": "long"}
    event[field] = long_id
    error = _error(c.post("/events", json={"event": event}))
    assert "1024" in error["message"]
    event[field] = long_id[:1024] if field != "project" else project
    assert c.post("/events", json={"event": event}).status_code == 200


# ---- item 10: --max-field-bytes bounds every string -----------------------------------------


def test_every_string_is_bounded(c: httpx.Client, project: str) -> None:
    long = "é" * FIELD_BYTES  # 2 bytes each: twice the limit
    event_id = uid()
    body = {
        "project": project,
        "event_type": "tool",
        "event_id": event_id,
        "source": long,
        "event_name": long,
        "error": long,
        "metadata": {long: "value", "short": long},
        "inputs": {"list": [long], "nested": {long + "x": 1}},
    }
    assert c.post("/events", json={"event": body}).status_code == 200
    stored = get_event(c, project, event_id)
    for name in ("source", "event_name", "error"):
        assert len(stored[name].encode()) <= FIELD_BYTES, name
        assert stored[name].endswith("[truncated by hivelog]")
    keys = [k for k in stored["metadata"] if k.startswith("é")]
    assert len(keys) == 1 and len(keys[0].encode()) <= FIELD_BYTES
    assert stored["metadata"][keys[0]] == "value"
    assert len(stored["metadata"]["short"].encode()) <= FIELD_BYTES
    (nested_key,) = stored["inputs"]["nested"]
    assert len(nested_key.encode()) <= FIELD_BYTES
    assert len(stored["inputs"]["list"][0].encode()) <= FIELD_BYTES
    truncated = stored["metadata"]["hivelog_truncated"]
    assert truncated["source"] == 2 * FIELD_BYTES
    assert any(path.startswith("metadata.") for path in truncated)


def test_otlp_strings_are_bounded(c: httpx.Client, project: str) -> None:
    long = "ß" * FIELD_BYTES
    trace = new_trace()
    attrs = {"honeyhive.project": project, "honeyhive.source": long, long: "v"}
    post_pb(c, pb_request([pb_span(trace, new_span(), long, attrs)]))
    for event in export(c, project):
        assert len(event["event_name"].encode()) <= FIELD_BYTES
        assert len(event["source"].encode()) <= FIELD_BYTES
        assert all(len(k.encode()) <= FIELD_BYTES for k in event["metadata"])
    assert uuid.UUID(trace_uuid(trace))
