"""`traceloop-sdk` (OpenLLMetry): its own exporter pointed at hivelog by TRACELOOP_BASE_URL."""

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
from tests.instrumentations.fake_openai import MODEL, FakeOpenAI


def test_traceloop_sdk(
    server: Server, client: httpx.Client, project: str, fake_openai: FakeOpenAI
) -> None:
    run = run_app(
        "traceloop",
        "traceloop_app.py",
        {
            "FAKE_OPENAI_URL": fake_openai.url,
            "TRACELOOP_BASE_URL": server.url,
            "TRACELOOP_TRACE_CONTENT": "true",
            # Traceloop's exporter has no query string: the project comes as a resource attribute
            "OTEL_RESOURCE_ATTRIBUTES": f"honeyhive.project={project}",
        },
    )
    events = trace_events(client, project, run["trace_id"])
    assert_one_session(events)
    root = one(events, "agent run.workflow")
    assert root["event_type"] == "chain"
    calls = by_name(events, "openai.chat")
    assert all(c["parent_id"] == root["event_id"] for c in calls)
    assert_openai_calls(calls, MODEL, "openai")
    tool = one(events, "get_weather.tool")
    assert tool["event_type"] == "tool" and tool["parent_id"] == root["event_id"]
    assert tool["inputs"] == {"city": "Paris"}
    assert tool["outputs"] == {"city": "Paris", "forecast": "sunny", "celsius": 21}
    streamed = calls[3]
    assert streamed["metadata"]["time_to_first_token"] > 0  # from the first chunk's event
    assert "events" not in streamed["metadata"]  # one entry per chunk no more
