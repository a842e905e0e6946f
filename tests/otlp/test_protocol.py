"""OTLP/HTTP protocol behaviour: lenient JSON, order-free trees, partial success, bad input,
size limits, overload, and the logs/metrics answer. Bad input must leave stored data as it was."""

from __future__ import annotations

import base64
import concurrent.futures
import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from hivelog.ingest.limits import TRUNCATED_KEY, TRUNCATED_MARK
from tests.conftest import Server
from tests.helpers import export
from tests.otlp.otlp_helpers import (
    PROTOBUF,
    event_id,
    events_of,
    json_attrs,
    new_span,
    new_trace,
    pb_request,
    pb_span,
    post_pb,
    trace_uuid,
)


def _count(client: httpx.Client, project: str) -> int:
    r = client.post("/events/export", json={"project": project, "filters": [], "limit": 1})
    assert r.status_code == 200, r.text
    total: int = r.json()["totalEvents"]
    return total


def _seed(client: httpx.Client, project: str) -> str:
    trace_id = new_trace()
    post_pb(
        client, pb_request([pb_span(trace_id, new_span(), "seed")]), params={"project": project}
    )
    return trace_id


# ---- lenient OTLP/JSON --------------------------------------------------------------------


def _json_span(trace_id: Any, span_id: Any, parent: Any, **extra: Any) -> dict[str, Any]:
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "lenient",
        "startTimeUnixNano": 1_700_000_000_000_000_000,
        "endTimeUnixNano": "1700000000002000000",
        "attributes": json_attrs({"n": 1}),
        **extra,
    }
    if parent is not ...:
        span["parentSpanId"] = parent
    return span


def test_json_ids_enums_and_int64_in_every_accepted_spelling(
    client: httpx.Client, project: str
) -> None:
    trace_id, root, child = new_trace(), new_span(), new_span()
    b64 = {x: base64.b64encode(bytes.fromhex(x)).decode() for x in (trace_id, root, child)}
    spans = [
        _json_span(trace_id.upper(), root.upper(), None, kind="SPAN_KIND_SERVER"),
        _json_span(b64[trace_id], b64[child], b64[root], kind=3, status={"code": 2}),
    ]
    variants = [
        _json_span(trace_id, new_span(), "", status={"code": "STATUS_CODE_OK"}),
        _json_span(trace_id, new_span(), ...),
    ]
    snake = {
        "trace_id": trace_id,
        "span_id": new_span(),
        "parent_span_id": root,
        "name": "snake",
        "start_time_unix_nano": "1700000000000000000",
        "end_time_unix_nano": 1700000000001000000,
        "attributes": [{"key": "x", "value": {"int_value": 7}}],
    }
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [*spans, *variants, snake]}]}]}
    r = client.post("/v1/traces", json=body, params={"project": project})
    assert r.status_code == 200 and r.json() == {}, r.text
    events = {e["event_id"]: e for e in events_of(client, project)}
    session = trace_uuid(trace_id)
    assert events[event_id(trace_id, root)]["parent_id"] == session
    kid = events[event_id(trace_id, child)]
    assert kid["parent_id"] == event_id(trace_id, root)
    assert kid["error"] == "error" and kid["metadata"]["otel"]["kind"] == "client"
    assert kid["duration"] == 2.0 and kid["start_time"] == 1_700_000_000_000
    assert events[event_id(trace_id, snake["span_id"])]["metadata"]["x"] == 7
    for v in variants:
        assert events[event_id(trace_id, v["spanId"])]["parent_id"] == session
    assert len(events) == 6  # five spans and the trace's session


def test_children_before_parents_across_requests(client: httpx.Client, project: str) -> None:
    trace_id, root, mid, leaf = new_trace(), new_span(), new_span(), new_span()
    post_pb(
        client,
        pb_request([pb_span(trace_id, leaf, "leaf", parent=mid)]),
        params={"project": project},
    )
    post_pb(
        client,
        pb_request([pb_span(trace_id, mid, "mid", parent=root)]),
        params={"project": project},
    )
    post_pb(client, pb_request([pb_span(trace_id, root, "root")]), params={"project": project})
    session = trace_uuid(trace_id)
    r = client.get(f"/v1/sessions/{session}", params={"project": project})
    assert r.status_code == 200, r.text
    tree = r.json()
    assert tree["event_name"] == "root"  # the placeholder session became the trace's session
    (root_node,) = tree["children"]
    (mid_node,) = root_node["children"]
    assert [c["event_name"] for c in mid_node["children"]] == ["leaf"]


def test_spans_name_their_project_and_session(client: httpx.Client, project: str) -> None:
    other = project + "-other"
    trace_id = new_trace()
    spans = [
        pb_span(trace_id, new_span(), "a", {"honeyhive.project": other, "session.id": "chat-42"}),
        pb_span(trace_id, new_span(), "b", {"gen_ai.conversation.id": "conv-7"}),
    ]
    post_pb(client, pb_request(spans, {"service.name": "x"}), params={"project": project})
    (a,) = [e for e in export(client, other) if e["event_id"] != "chat-42"]
    assert a["session_id"] == "chat-42" and a["event_name"] == "a"
    session = [e for e in export(client, other) if e["event_id"] == "chat-42"]
    assert session and session[0]["event_type"] == "session"
    assert session[0]["event_name"] == "a"  # named after the trace's root span
    (b,) = [e for e in export(client, project) if e["event_id"] != "conv-7"]
    assert b["session_id"] == "conv-7" and b["event_name"] == "b"


def test_resource_attribute_names_the_project(client: httpx.Client, project: str) -> None:
    trace_id = new_trace()
    post_pb(
        client, pb_request([pb_span(trace_id, new_span(), "r")], {"honeyhive.project": project})
    )
    assert [e["event_name"] for e in export(client, project) if e["event_type"] != "session"] == [
        "r"
    ]


# ---- refusals and errors ------------------------------------------------------------------


def test_span_without_ids_is_refused_in_partial_success(client: httpx.Client, project: str) -> None:
    before = _count(client, _seed_project(client, project))
    trace_id, good = new_trace(), new_span()
    spans = [pb_span(trace_id, good, "good"), pb_span(trace_id, "0" * 16, "no span id")]
    bad = pb_span(trace_id, new_span(), "no trace id")
    bad.trace_id = b""
    answer = post_pb(client, pb_request([*spans, bad]), params={"project": project})
    assert answer.partial_success.rejected_spans == 2
    assert "span_id" in answer.partial_success.error_message
    names = {e["event_name"] for e in export(client, project)}
    assert "good" in names and not names & {"no span id", "no trace id"}
    assert _count(client, project) == before + 2  # the good span and its trace's session

    only_bad = {"resourceSpans": [{"scopeSpans": [{"spans": [_json_span(None, None, None)]}]}]}
    r = client.post("/v1/traces", json=only_bad, params={"project": project})
    assert r.status_code == 200
    assert r.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert _count(client, project) == before + 2


def test_large_request_converted_in_a_worker_stores_and_refuses_the_same(
    client: httpx.Client, project: str
) -> None:
    """Bodies over ingest.converters.IN_PLACE_BYTES are converted in a worker process."""
    from hivelog.ingest.converters import IN_PLACE_BYTES

    trace_id = new_trace()
    spans = [pb_span(trace_id, new_span(), f"s{i}", {"input.value": "x" * 100}) for i in range(300)]
    spans.append(pb_span(trace_id, "0" * 16, "no span id"))
    body = pb_request(spans)
    assert len(body) > IN_PLACE_BYTES
    answer = post_pb(client, body, params={"project": project})
    assert answer.partial_success.rejected_spans == 1
    names = {e["event_name"] for e in export(client, project, limit=1000)}
    assert {f"s{i}" for i in range(300)} <= names and "no span id" not in names


def _seed_project(client: httpx.Client, project: str) -> str:
    _seed(client, project)
    return project


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b"\xff\xff\xff\xff garbage \x00\x01", "application/x-protobuf"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "ab', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'{"resourceSpans": {"not": "a list"}}', "application/json"),
        (b"", "application/json"),
        # large enough to be decoded in a conversion worker process: the same answers
        (b"\xff\xff\xff\xff garbage \x00\x01" * 2000, "application/x-protobuf"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [' + b'{"name": "x"},' * 2000,
            "application/json",
        ),
    ],
    ids=[
        "garbage-protobuf",
        "truncated-json",
        "json-array",
        "wrong-shape",
        "empty-json",
        "large-garbage-protobuf",
        "large-truncated-json",
    ],
)
def test_undecodable_bodies_get_400_and_store_nothing(
    client: httpx.Client, project: str, body: bytes, ctype: str
) -> None:
    _seed(client, project)
    before = _count(client, project)
    r = client.post(
        "/v1/traces", content=body, headers={"Content-Type": ctype}, params={"project": project}
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith(ctype)
    if ctype == "application/json":
        assert r.json()["code"] == 3 and r.json()["message"]
    else:
        # google.rpc.Status{code=3 (INVALID_ARGUMENT), message=...}
        assert r.content[:2] == b"\x08\x03" and b"ExportTraceServiceRequest" in r.content
    assert _count(client, project) == before


def test_empty_protobuf_body_is_an_empty_export(client: httpx.Client) -> None:
    answer = post_pb(client, b"")
    assert answer.partial_success.rejected_spans == 0


@pytest.fixture()
def small_server(fresh_database: str, tmp_path: Path) -> Iterator[Server]:
    srv = Server(fresh_database, extra_args=["--max-body-bytes", str(8 * 1024 * 1024)])
    srv.start()
    yield srv
    srv.stop()


def _big_span_body(trace_id: str, span_id: str, size: int) -> bytes:
    return pb_request([pb_span(trace_id, span_id, "big", {"input.value": "é" * (size // 2)})])


def test_ten_megabyte_attribute_over_the_limit_is_413(small_server: Server, project: str) -> None:
    with small_server.client() as client:
        _seed(client, project)
        before = _count(client, project)
        body = _big_span_body(new_trace(), new_span(), 10 * 1024 * 1024)
        r = client.post("/v1/traces", content=body, headers=PROTOBUF, params={"project": project})
        assert r.status_code == 413
        for encoding, packed in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
            assert len(packed) < 8 * 1024 * 1024  # only the inflated size is over the limit
            r = client.post(
                "/v1/traces",
                content=packed,
                headers={**PROTOBUF, "Content-Encoding": encoding},
                params={"project": project},
            )
            assert r.status_code == 413, encoding
        assert _count(client, project) == before


def test_ten_megabyte_attribute_within_the_body_limit_is_kept_truncated(
    client: httpx.Client, project: str
) -> None:
    """Within the body limit the span is stored; its one oversized value is cut to
    --max-field-bytes with a visible marker and its original length in metadata."""
    trace_id, span_id = new_trace(), new_span()
    body = _big_span_body(trace_id, span_id, 10 * 1024 * 1024)
    r = client.post(
        "/v1/traces",
        content=gzip.compress(body),
        headers={**PROTOBUF, "Content-Encoding": "gzip"},
        params={"project": project},
    )
    assert r.status_code == 200, r.text[:500]
    (event,) = [
        e for e in events_of(client, project) if e["event_id"] == event_id(trace_id, span_id)
    ]
    value = event["inputs"]["input"]
    assert value.endswith(TRUNCATED_MARK) and value.startswith("é" * 1000)
    assert len(value.encode()) <= 1024 * 1024
    assert event["metadata"][TRUNCATED_KEY] == {"inputs.input": 10 * 1024 * 1024}


def test_full_writer_queue_answers_503_with_retry_after(fresh_database: str, project: str) -> None:
    srv = Server(fresh_database, extra_args=["--queue-events", "100"])
    srv.start()
    try:
        statuses: list[tuple[int, str | None]] = []

        def send(_: int) -> tuple[int, str | None]:
            trace_id = new_trace()
            spans = [pb_span(trace_id, new_span(), f"s{i}") for i in range(100)]
            with srv.client() as c:
                r = c.post(
                    "/v1/traces",
                    content=pb_request(spans),
                    headers=PROTOBUF,
                    params={"project": project},
                )
                return r.status_code, r.headers.get("retry-after")

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            for _ in range(10):
                statuses.extend(pool.map(send, range(32)))
                if any(s == 503 for s, _ in statuses):
                    break
        refused = [(s, h) for s, h in statuses if s == 503]
        assert refused, "no request was refused with a queue of 100 events"
        assert all(h is not None and int(h) >= 1 for _, h in refused)
        assert {s for s, _ in statuses} <= {200, 503}
    finally:
        srv.stop()


# ---- logs and metrics ---------------------------------------------------------------------


def test_metrics_and_logs_without_span_are_answered_not_stored(
    client: httpx.Client, project: str
) -> None:
    logs = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[LogRecord(), LogRecord()])])]
    )
    for path in ("/v1/logs", "/opentelemetry/v1/logs"):
        r = client.post(path, content=logs.SerializeToString(), headers=PROTOBUF)
        assert r.status_code == 200
        answer = ExportLogsServiceResponse()
        answer.ParseFromString(r.content)
        assert answer.partial_success.rejected_log_records == 2
        assert "no span context" in answer.partial_success.error_message
    r = client.post("/v1/metrics", content=b"", headers=PROTOBUF)
    assert r.status_code == 200
    ExportMetricsServiceResponse().ParseFromString(r.content)
    r = client.post("/v1/metrics", json={"resourceMetrics": []})
    assert r.status_code == 200
    assert r.json()["partialSuccess"]["rejectedDataPoints"] == "0"
    r = client.post("/v1/logs", content=b"\xff\xfe", headers=PROTOBUF)
    assert r.status_code == 400
    assert _count(client, project) == 0
