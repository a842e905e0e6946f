"""The real OpenTelemetry SDK with its OTLP/HTTP protobuf exporter, pointed at hivelog."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from tests.conftest import Server
from tests.otlp.otlp_helpers import event_id, events_of, trace_uuid


def _provider(server: Server, project: str, path: str, gzip: bool) -> TracerProvider:
    exporter = OTLPSpanExporter(
        endpoint=f"{server.url}{path}?project={project}",
        compression=Compression.Gzip if gzip else Compression.NoCompression,
        timeout=30,
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "otlp-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture(params=[("/v1/traces", False), ("/opentelemetry/v1/traces", True)])
def provider(
    request: pytest.FixtureRequest, server: Server, project: str
) -> Iterator[TracerProvider]:
    path, gzip = request.param
    p = _provider(server, project, path, gzip)
    yield p
    p.shutdown()


def test_nested_spans_become_a_session_tree(
    provider: TracerProvider, client: httpx.Client, project: str
) -> None:
    tracer = provider.get_tracer("tests")
    with (
        tracer.start_as_current_span("agent run") as root,
        tracer.start_as_current_span("plan") as plan,
    ):
        with tracer.start_as_current_span("chat gpt-4o-mini") as llm:
            llm.set_attribute("gen_ai.operation.name", "chat")
            llm.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            llm.set_attribute("gen_ai.provider.name", "openai")
            llm.set_attribute("gen_ai.usage.input_tokens", 100)
            llm.set_attribute("gen_ai.usage.output_tokens", 20)
            llm.set_attribute("gen_ai.request.temperature", 0.5)
            llm.set_attribute("app.note", "naïve — 日本語")
        with tracer.start_as_current_span("execute_tool search") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "search")
            tool.set_status(Status(StatusCode.ERROR, "search backend down"))
    assert provider.force_flush()

    ctx = root.get_span_context()
    trace_id = f"{ctx.trace_id:032x}"
    session_id = trace_uuid(trace_id)

    def eid(span: object) -> str:
        return event_id(trace_id, f"{span.get_span_context().span_id:016x}")  # type: ignore[attr-defined]

    events = {e["event_id"]: e for e in events_of(client, project, session_id=session_id)}
    assert set(events) == {session_id, eid(root), eid(plan), eid(llm), eid(tool)}
    session = events[session_id]
    assert session["event_type"] == "session" and session["event_name"] == "agent run"
    assert events[eid(root)]["parent_id"] == session_id
    assert events[eid(plan)]["parent_id"] == eid(root)
    model = events[eid(llm)]
    assert model["parent_id"] == eid(plan)
    assert model["event_type"] == "model"
    assert model["config"]["model"] == "gpt-4o-mini"
    assert model["config"]["provider"] == "openai"
    assert model["config"]["hyperparameters"] == {"temperature": 0.5}
    assert model["metadata"]["prompt_tokens"] == 100
    assert model["metadata"]["completion_tokens"] == 20
    assert model["metadata"]["total_tokens"] == 120
    assert model["metadata"]["cost"] > 0
    assert model["metadata"]["app"]["note"] == "naïve — 日本語"  # unmapped, kept
    assert model["metadata"]["resource"]["service"]["name"] == "otlp-test"
    assert model["duration"] >= 0 and model["end_time"] >= model["start_time"]
    failing = events[eid(tool)]
    assert failing["event_type"] == "tool" and failing["error"] == "search backend down"
    assert events[eid(plan)]["event_type"] == "chain"

    r = client.get(f"/v1/sessions/{session_id}", params={"project": project})
    assert r.status_code == 200, r.text
    tree = r.json()
    assert [c["event_id"] for c in tree["children"]] == [eid(root)]
    (plan_node,) = tree["children"][0]["children"]
    assert {c["event_id"] for c in plan_node["children"]} == {eid(llm), eid(tool)}
    assert tree["metadata"]["num_events"] >= 4


def test_resending_the_same_spans_stores_them_once(
    server: Server, client: httpx.Client, project: str
) -> None:
    provider = _provider(server, project, "/v1/traces", gzip=False)
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("once") as span:
        pass
    provider.force_flush()
    trace_id = f"{span.get_span_context().trace_id:032x}"
    exporter = OTLPSpanExporter(endpoint=f"{server.url}/v1/traces?project={project}")
    exporter.export([span])  # type: ignore[list-item]
    exporter.export([span])  # type: ignore[list-item]
    provider.shutdown()
    found = events_of(client, project, session_id=trace_uuid(trace_id))
    assert sorted(e["event_type"] for e in found) == ["chain", "session"]
