"""OTLP logs: records with a span context are folded into their span's event.

The real OpenTelemetry SDK emits the records (its LoggerProvider and OTLP/HTTP log exporter)
and the spans (its tracer and span exporter); the GenAI events are the ones the official
GenAI instrumentations send in their log-only content mode.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.conftest import Server
from tests.otlp.otlp_helpers import PROTOBUF, event_id, events_of, two_processes

RESOURCE = Resource.create({"service.name": "logs-test"})
SYSTEM = "You are terse."
QUESTION = "What is the capital of France? 日本語で"
ANSWER = "Paris — パリ"
TOOL_CALLS = [
    {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
]


class Pipeline:
    """An app's tracer and logger, each exporting to hivelog over OTLP/HTTP (protobuf)."""

    def __init__(self, url: str, project: str, log_url: str | None = None) -> None:
        self.spans = TracerProvider(resource=RESOURCE)
        self.span_exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces?project={project}")
        self.logs = LoggerProvider(resource=RESOURCE)
        target = log_url or url
        self.log_exporter = OTLPLogExporter(endpoint=f"{target}/v1/logs?project={project}")
        self.logs.add_log_record_processor(SimpleLogRecordProcessor(self.log_exporter))
        self.logger = self.logs.get_logger("opentelemetry.instrumentation.openai_v2")
        self.finished: list[ReadableSpan] = []

    def chat_call(self, *, with_tool_call: bool = False) -> tuple[str, str]:
        """A model call span with its GenAI message events as log records; the span itself is
        held back (not exported) so the test decides when it arrives. Returns (trace, span)."""
        tracer = self.spans.get_tracer("opentelemetry.instrumentation.openai_v2")
        with tracer.start_as_current_span("chat gpt-4o-mini") as span:
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            span.set_attribute("gen_ai.provider.name", "openai")
            span.set_attribute("gen_ai.usage.input_tokens", 12)
            span.set_attribute("gen_ai.usage.output_tokens", 3)
            self.logger.emit(event_name="gen_ai.system.message", body={"content": SYSTEM})
            self.logger.emit(event_name="gen_ai.user.message", body={"content": QUESTION})
            message: dict[str, Any] = {"role": "assistant", "content": ANSWER}
            if with_tool_call:
                message["tool_calls"] = TOOL_CALLS
            self.logger.emit(
                event_name="gen_ai.choice",
                body={"index": 0, "finish_reason": "stop", "message": message},
            )
        assert isinstance(span, ReadableSpan)
        self.finished.append(span)
        ctx = span.get_span_context()
        return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"

    def send_spans(self) -> None:
        assert self.span_exporter.export(self.finished).name == "SUCCESS"

    def close(self) -> None:
        self.logs.shutdown()
        self.spans.shutdown()


@pytest.fixture()
def app(server: Server, project: str) -> Iterator[Pipeline]:
    pipeline = Pipeline(server.url, project)
    yield pipeline
    pipeline.close()


def _expected_history() -> list[dict[str, Any]]:
    return [
        {"content": SYSTEM, "role": "system"},
        {"content": QUESTION, "role": "user"},
    ]


def _model(client: httpx.Client, project: str, trace_id: str, span_id: str) -> dict[str, Any]:
    wanted = event_id(trace_id, span_id)
    found = [e for e in events_of(client, project) if e["event_id"] == wanted]
    assert len(found) == 1, found
    return found[0]


def test_logs_before_span_fold_into_the_event(
    app: Pipeline, client: httpx.Client, project: str
) -> None:
    trace_id, span_id = app.chat_call()  # the records are exported now, the span not yet
    app.send_spans()
    model = _model(client, project, trace_id, span_id)
    assert model["event_type"] == "model"
    assert model["inputs"]["chat_history"] == _expected_history()
    assert model["outputs"]["content"] == ANSWER
    assert model["outputs"]["role"] == "assistant"
    assert model["outputs"]["finish_reason"] == "stop"
    assert model["metadata"]["total_tokens"] == 15 and model["metadata"]["cost"] > 0
    assert "logs" not in model["metadata"]  # every record was a GenAI message


def test_span_before_logs_and_resent_logs_converge(
    server: Server, client: httpx.Client, project: str
) -> None:
    # Records are collected by an in-memory exporter first, then sent after the span, twice.
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter

    memory = InMemoryLogRecordExporter()
    app = Pipeline(server.url, project)
    app.logs = LoggerProvider(resource=RESOURCE)
    app.logs.add_log_record_processor(SimpleLogRecordProcessor(memory))
    app.logger = app.logs.get_logger("opentelemetry.instrumentation.openai_v2")
    trace_id, span_id = app.chat_call(with_tool_call=True)
    app.send_spans()
    records = list(memory.get_finished_logs())
    assert len(records) == 3
    exporter = OTLPLogExporter(endpoint=f"{server.url}/v1/logs?project={project}")
    # Records arrive one request each, last first: history still comes out in order.
    for record in reversed(records):
        assert exporter.export([record]).name == "SUCCESS"
    first = _model(client, project, trace_id, span_id)
    assert first["inputs"]["chat_history"] == _expected_history()
    assert first["outputs"]["tool_calls"] == TOOL_CALLS
    assert first["outputs"]["content"] == ANSWER
    assert exporter.export(records).name == "SUCCESS"  # a resend changes nothing
    app.send_spans()  # nor does the span's
    again = _model(client, project, trace_id, span_id)
    assert again == first
    app.close()


def test_same_content_as_span_events_gives_the_same_event(
    server: Server, client: httpx.Client, project: str
) -> None:
    """The log-only mode stores what the span-event mode stores for the same conversation."""
    via_logs = Pipeline(server.url, project)
    trace_a, span_a = via_logs.chat_call()
    via_logs.send_spans()
    via_logs.close()

    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{server.url}/v1/traces?project={project}"))
    )
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("chat gpt-4o-mini") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
        span.add_event("gen_ai.system.message", {"content": SYSTEM})
        span.add_event("gen_ai.user.message", {"content": QUESTION})
        span.add_event(
            "gen_ai.choice",
            {"finish_reason": "stop", "message": f'{{"role":"assistant","content":"{ANSWER}"}}'},
        )
    provider.shutdown()
    ctx = span.get_span_context()
    from_events = _model(client, project, f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")
    from_logs = _model(client, project, trace_a, span_a)
    assert from_logs["inputs"] == from_events["inputs"]
    assert from_logs["outputs"] == from_events["outputs"]


def test_other_records_are_kept_and_records_without_span_refused(
    app: Pipeline, client: httpx.Client, server: Server, project: str
) -> None:
    tracer = app.spans.get_tracer("tests")
    with tracer.start_as_current_span("retrieve") as span:
        app.logger.emit(body="cache miss for key 42", severity_text="WARN", attributes={"k": 1})
    app.finished.append(span)  # type: ignore[arg-type]
    app.send_spans()
    ctx = span.get_span_context()
    event = _model(client, project, f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")
    (kept,) = event["metadata"]["logs"]
    assert kept["body"] == "cache miss for key 42"
    assert kept["severity"] == "WARN" and kept["attributes"] == {"k": 1}

    # OTLP/JSON: one record with a span context, two without; the two are refused by name.
    trace_id, span_id = os.urandom(16).hex(), os.urandom(8).hex()
    body = {
        "resourceLogs": [
            {
                "resource": {"attributes": []},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {"traceId": trace_id, "spanId": span_id, "body": {"stringValue": "a"}},
                            {"body": {"stringValue": "no context"}, "eventName": "app.start"},
                            {"traceId": trace_id, "body": {"stringValue": "no span id"}},
                        ]
                    }
                ],
            }
        ]
    }
    r = client.post("/v1/logs", params={"project": project}, json=body)
    assert r.status_code == 200, r.text
    partial = r.json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "2"
    assert "log record 1 ('app.start'): no span context" in partial["errorMessage"]
    assert "log record 2: no span context (missing or invalid span_id)" in partial["errorMessage"]

    # protobuf: the same refusal, in the response's own message
    request = ExportLogsServiceRequest()
    request.resource_logs.add().scope_logs.add().log_records.add().body.string_value = "x"
    r = client.post("/opentelemetry/v1/logs", content=request.SerializeToString(), headers=PROTOBUF)
    assert r.status_code == 200, r.text
    answer = ExportLogsServiceResponse.FromString(r.content)
    assert answer.partial_success.rejected_log_records == 1


def test_undecodable_logs_are_400(client: httpx.Client) -> None:
    r = client.post("/v1/logs", content=b"\xff\xff not protobuf", headers=PROTOBUF)
    assert r.status_code == 400
    r = client.post("/v1/logs", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == 3


def test_operation_details_record(client: httpx.Client, project: str) -> None:
    """`gen_ai.client.inference.operation.details` (newer instrumentations): the whole
    conversation in one record, as structured attributes, event name in `event.name`."""
    trace_id, span_id = os.urandom(16).hex(), os.urandom(8).hex()

    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, dict):
            items = [{"key": k, "value": value(x)} for k, x in v.items()]
            return {"kvlistValue": {"values": items}}
        if isinstance(v, list):
            return {"arrayValue": {"values": [value(x) for x in v]}}
        return {"stringValue": v}

    attrs = {
        "event.name": "gen_ai.client.inference.operation.details",
        "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}],
        "gen_ai.output.messages": [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "hello"}],
                "finish_reason": "stop",
            }
        ],
    }
    record = {
        "traceId": trace_id,
        "spanId": span_id,
        "timeUnixNano": "1700000000000000000",
        "attributes": [{"key": k, "value": value(v)} for k, v in attrs.items()],
    }
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}
    r = client.post("/v1/logs", params={"project": project}, json=body)
    assert r.status_code == 200 and r.json() == {}, r.text
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "chat m",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}],
    }
    traces = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    assert client.post("/v1/traces", params={"project": project}, json=traces).status_code == 200
    model = _model(client, project, trace_id, span_id)
    assert model["inputs"]["chat_history"] == [{"role": "user", "content": "hi"}]
    assert model["outputs"] == {"role": "assistant", "content": "hello", "finish_reason": "stop"}


def test_logs_and_span_through_two_processes_on_postgres(
    tmp_path_factory: pytest.TempPathFactory, project: str
) -> None:
    """Records to one server process, the span to another, on one PostgreSQL database."""
    with two_processes(tmp_path_factory.mktemp("pg")) as (first, second):
        app = Pipeline(second.url, project, log_url=first.url)
        trace_id, span_id = app.chat_call()
        app.send_spans()
        app.close()
        with second.client() as client:
            model = _model(client, project, trace_id, span_id)
        assert model["inputs"]["chat_history"] == _expected_history()
        assert model["outputs"]["content"] == ANSWER
