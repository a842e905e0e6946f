"""`openinference-instrumentation-openai` with the OpenTelemetry SDK's OTLP/HTTP exporter."""

from __future__ import annotations

import httpx

from tests.conftest import Server
from tests.instrumentations.conftest import (
    assert_one_session,
    assert_openai_calls,
    by_name,
    one,
    run_app,
    trace_events,
)
from tests.instrumentations.fake_openai import RESPONSE_MODEL, FakeOpenAI


def test_openinference_openai(
    server: Server, client: httpx.Client, project: str, fake_openai: FakeOpenAI
) -> None:
    run = run_app(
        "otel",
        "openinference_app.py",
        {
            "FAKE_OPENAI_URL": fake_openai.url,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{server.url}/v1/traces?project={project}",
            "OTEL_SERVICE_NAME": "openinference-app",
        },
    )
    events = trace_events(client, project, run["trace_id"])
    assert_one_session(events)
    root = one(events, "agent run")
    calls = by_name(events, "ChatCompletion")
    assert all(c["parent_id"] == root["event_id"] for c in calls)
    assert_openai_calls(calls, RESPONSE_MODEL, "openai")
    assert calls[1]["config"]["tools"][0]["function"]["name"] == "get_weather"
    streamed = calls[3]
    assert streamed["metadata"]["time_to_first_token"] > 0  # from the first-token event
    assert "events" not in streamed["metadata"]
