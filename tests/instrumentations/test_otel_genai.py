"""`opentelemetry-instrumentation-openai-v2` (the official GenAI instrumentation) in each
content-capture mode: messages on the span, as log records (exported to `/v1/logs` and folded
into their span's event), or both. The event is the same whichever way the content came."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Server
from tests.instrumentations.conftest import (
    assert_one_session,
    assert_openai_calls,
    by_name,
    one,
    run_app,
    trace_events,
)
from tests.instrumentations.fake_openai import MODEL, FakeOpenAI


@pytest.mark.parametrize("mode", ["SPAN_ONLY", "EVENT_ONLY", "SPAN_AND_EVENT"])
def test_openai_v2_content_modes(
    mode: str, server: Server, client: httpx.Client, project: str, fake_openai: FakeOpenAI
) -> None:
    run = run_app(
        "otel",
        "otelv2_app.py",
        {
            "FAKE_OPENAI_URL": fake_openai.url,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{server.url}/v1/traces?project={project}",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": f"{server.url}/v1/logs?project={project}",
            "OTEL_SERVICE_NAME": "otelv2-app",
            "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": mode,
        },
    )
    events = trace_events(client, project, run["trace_id"])
    assert_one_session(events)
    root = one(events, "agent run")
    calls = by_name(events, f"chat {MODEL}")
    assert all(c["parent_id"] == root["event_id"] for c in calls)
    assert_openai_calls(calls, MODEL, "openai")
    for call in calls:
        assert not call["metadata"].get("logs"), call["metadata"]  # every record was mapped
