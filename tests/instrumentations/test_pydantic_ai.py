"""Pydantic AI through `logfire` (send_to_logfire=False), exporting OTLP/HTTP to hivelog.

Pydantic AI speaks the GenAI conventions: messages as `gen_ai.input.messages` /
`gen_ai.output.messages` JSON when content is recorded, none when it is not.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Server
from tests.helpers import export, is_
from tests.instrumentations import fake_openai as fake
from tests.instrumentations.conftest import (
    assert_one_session,
    assert_tokens_and_cost,
    by_name,
    one,
    run_app,
    text_of,
)
from tests.instrumentations.fake_openai import FakeOpenAI


def _run(
    server: Server, project: str, fake_openai: FakeOpenAI, content: bool, one_trace: bool = False
) -> dict[str, Any]:
    return run_app(
        "otel",
        "pydanticai_app.py",
        {
            "FAKE_OPENAI_URL": fake_openai.url,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{server.url}/v1/traces?project={project}",
            "PYDANTIC_AI_CONTENT": "1" if content else "0",
            "PYDANTIC_AI_ONE_TRACE": "1" if one_trace else "0",
        },
    )


def _conversation(client: httpx.Client, project: str, session: str) -> list[dict[str, Any]]:
    found = export(client, project, is_("session_id", session))
    events = [e for e in found if e["event_type"] != "session"]
    assert assert_one_session(events) == session
    return events


@pytest.mark.parametrize("content", [True, False], ids=["messages", "no-content"])
def test_pydantic_ai_through_logfire(
    content: bool, server: Server, client: httpx.Client, project: str, fake_openai: FakeOpenAI
) -> None:
    run = _run(server, project, fake_openai, content)

    events = _conversation(client, project, run["tool_run"])
    agent = one(events, "invoke_agent weather_agent")
    assert agent["event_type"] == "chain" and agent["parent_id"] == run["tool_run"]
    assert agent["metadata"]["agent_name"] == "weather_agent"
    assert agent["metadata"]["usage"] == {"input_tokens": 42, "output_tokens": 18}
    assert "prompt_tokens" not in agent["metadata"]  # its calls carry the counted tokens
    ask, answer = by_name(events, "chat gpt-4o-mini")
    tool = one(events, "execute_tool get_weather")
    for event in (ask, answer, tool):
        assert event["parent_id"] == agent["event_id"]
    for call in (ask, answer):
        assert call["event_type"] == "model"
        assert call["config"]["model"] == fake.MODEL
        assert call["config"]["provider"] == "openai"
        assert call["config"]["tools"][0]["name"] == "get_weather"
        assert "function_tools" not in call["config"].get("request_parameters", {})
        assert_tokens_and_cost(call)
        assert not any(k.startswith("logfire") for k in call["metadata"]), call["metadata"]
    assert tool["event_type"] == "tool" and tool["config"]["tool_name"] == "get_weather"
    assert tool["metadata"]["tool_call_id"] == fake.TOOL_CALL_ID

    streamed_events = _conversation(client, project, run["streamed"])
    streamed = one(streamed_events, "chat gpt-4o-mini")
    assert_tokens_and_cost(streamed)
    assert streamed["metadata"]["time_to_first_token"] > 0

    if not content:
        # messages without content: their roles and tool calls only
        history = ask["inputs"]["chat_history"]
        assert [(m["role"], m["content"]) for m in history] == [("system", None), ("user", None)]
        assert "parts" not in history[0]
        assert ask["outputs"]["tool_calls"][0]["function"]["name"] == fake.TOOL_NAME
        assert answer["outputs"]["content"] is None
        return
    assert [(m["role"], text_of(m)) for m in ask["inputs"]["chat_history"]] == [
        ("system", "You are terse."),
        ("user", "What is the weather in Paris?"),
    ]
    (call,) = ask["outputs"]["tool_calls"]
    assert call["id"] == fake.TOOL_CALL_ID and call["function"]["name"] == fake.TOOL_NAME
    tool_result = answer["inputs"]["chat_history"][-1]
    assert tool_result["tool_call_id"] == fake.TOOL_CALL_ID and "sunny" in tool_result["content"]
    assert answer["outputs"]["content"] == fake.WEATHER_ANSWER
    assert tool["inputs"] == fake.TOOL_ARGUMENTS
    assert tool["outputs"]["result"] == {"city": "Paris", "forecast": "sunny", "celsius": 21}
    assert agent["outputs"]["content"] == fake.WEATHER_ANSWER
    assert [m["role"] for m in agent["inputs"]["chat_history"]][:2] == ["system", "user"]
    assert streamed["outputs"]["content"] == fake.ANSWER


def test_two_agent_runs_in_one_trace(
    server: Server, client: httpx.Client, project: str, fake_openai: FakeOpenAI
) -> None:
    """Two runs (two conversation ids) inside one app span: one trace, so one session — the
    smaller conversation id, whatever order the spans came in — and each span keeps its own
    run's conversation id in metadata."""
    run = _run(server, project, fake_openai, content=True, one_trace=True)
    conversations = {run["tool_run"], run["streamed"]}
    assert len(conversations) == 2
    session = min(conversations)
    stored = [e for e in export(client, project) if e["event_type"] != "session"]
    assert {e["session_id"] for e in stored} == {session}
    sessions = [e for e in export(client, project) if e["event_type"] == "session"]
    assert [s["event_id"] for s in sessions] == [session]  # none left for the other run
    app = one(stored, "two agent runs")
    assert app["parent_id"] == session
    assert sessions[0]["event_name"] == "two agent runs"  # named after the trace's root span
    weather = one(stored, "invoke_agent weather_agent")
    chat = one(stored, "invoke_agent chat_agent")
    assert weather["parent_id"] == app["event_id"] and chat["parent_id"] == app["event_id"]
    by_id = {e["event_id"]: e for e in stored}

    def run_of(event: dict[str, Any]) -> str:
        while event["parent_id"] in by_id and event["event_name"] != "two agent runs":
            if event["event_name"].startswith("invoke_agent"):
                break
            event = by_id[event["parent_id"]]
        return str(event["event_name"])

    models = [e for e in stored if e["event_type"] == "model"]
    assert len(models) == 3  # the tool call, the answer after it, the streamed answer
    for model in models:
        conversation = model["metadata"]["gen_ai"]["conversation"]["id"]
        expected = run["tool_run"] if run_of(model).endswith("weather_agent") else run["streamed"]
        assert conversation == expected
        assert_tokens_and_cost(model)
    assert one(stored, "execute_tool get_weather")["event_type"] == "tool"
