"""The Vercel AI SDK (`ai` + `@ai-sdk/openai`, Node.js) with OpenTelemetry JS exporters.

`node/vercel_ai.mjs` runs a generateText call that executes a tool (two model steps) and a
streamText call inside an "agent run" span, exporting over OTLP protobuf and OTLP JSON.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Server
from tests.instrumentations import fake_openai as fake
from tests.instrumentations.conftest import (
    assert_one_session,
    assert_tokens_and_cost,
    by_name,
    one,
    run_node,
    trace_events,
)
from tests.instrumentations.fake_openai import FakeOpenAI


@pytest.mark.parametrize("protocol", ["proto", "json"])
def test_vercel_ai_sdk(
    protocol: str, server: Server, client: httpx.Client, project: str, fake_openai: FakeOpenAI
) -> None:
    run = run_node(
        "vercel_ai.mjs",
        {
            "FAKE_OPENAI_URL": fake_openai.url,
            "OTLP_ENDPOINT": f"{server.url}/v1/traces?project={project}",
            "OTLP_PROTOCOL": protocol,
        },
    )
    events = trace_events(client, project, run["trace_id"])
    assert_one_session(events)
    root = one(events, "agent run")

    # the outer generateText call: a chain with the prompt and the final answer
    outer = one(events, "ai.generateText")
    assert outer["event_type"] == "chain" and outer["parent_id"] == root["event_id"]
    assert outer["inputs"]["chat_history"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is the weather in Paris?"},
    ]
    assert outer["outputs"]["content"] == fake.WEATHER_ANSWER
    assert outer["outputs"]["finish_reason"] == "stop"
    assert outer["metadata"]["usage"]["input_tokens"] == 42  # both steps, not counted again
    assert "prompt_tokens" not in outer["metadata"]
    assert outer["metadata"]["function_id"] == "weather-agent"
    assert outer["metadata"]["tenant"] == "acme" and outer["metadata"]["attempt"] == 2

    # its two provider calls: model events, provider normalised, tokens and cost
    first, second = by_name(events, "ai.generateText.doGenerate")
    for step in (first, second):
        assert step["event_type"] == "model" and step["parent_id"] == outer["event_id"]
        assert step["config"]["model"] == "gpt-4o-mini"
        assert step["config"]["provider"] == "openai"
        assert step["metadata"]["provider_api"] == "openai.chat"
        assert_tokens_and_cost(step)
    assert first["outputs"]["tool_calls"] == [
        {
            "id": fake.TOOL_CALL_ID,
            "type": "function",
            "function": {"name": fake.TOOL_NAME, "arguments": fake.TOOL_ARGUMENTS},
        }
    ]
    assert first["outputs"]["finish_reason"] == "tool-calls"
    assert first["config"]["tools"][0]["name"] == "get_weather"
    history = second["inputs"]["chat_history"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "tool"]
    assert history[2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert history[3]["tool_call_id"] == fake.TOOL_CALL_ID
    assert "sunny" in history[3]["content"]
    assert second["outputs"]["content"] == fake.WEATHER_ANSWER

    # the executed tool: a tool event with its arguments and result
    tool = one(events, "get_weather")
    assert tool["event_type"] == "tool" and tool["parent_id"] == outer["event_id"]
    assert tool["inputs"] == fake.TOOL_ARGUMENTS
    assert tool["outputs"]["result"] == {"city": "Paris", "forecast": "sunny", "celsius": 21}
    assert tool["metadata"]["tool_call_id"] == fake.TOOL_CALL_ID

    # streamText: the chain and its streamed call, with the time to the first chunk
    stream_outer = one(events, "ai.streamText")
    stream_call = one(events, "ai.streamText.doStream")
    assert stream_call["parent_id"] == stream_outer["event_id"]
    assert stream_outer["outputs"]["content"] == fake.ANSWER
    assert stream_call["outputs"]["content"] == fake.ANSWER
    assert stream_call["inputs"]["chat_history"] == [
        {"role": "user", "content": "Say hello in French and Chinese; what is 6×7?"}
    ]
    assert_tokens_and_cost(stream_call)
    assert stream_call["metadata"]["time_to_first_token"] > 0
    assert "events" not in stream_call["metadata"]  # the first-chunk event is that figure
    assert not any(k.startswith("ai") for k in stream_call["metadata"])  # all mapped
