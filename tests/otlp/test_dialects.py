"""Recorded span shapes of each dialect (tests/fixtures/otlp, made by make_fixtures.py with the
real libraries) posted to a running server, and the events read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import export, is_
from tests.otlp.otlp_helpers import PROTOBUF, json_attrs, new_span, new_trace

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "otlp"


def _post_fixture(client: httpx.Client, name: str, project: str) -> None:
    raw = (FIXTURES / name).read_bytes()
    headers = {"Content-Type": "application/json"} if name.endswith(".json") else PROTOBUF
    r = client.post("/v1/traces", content=raw, headers=headers, params={"project": project})
    assert r.status_code == 200, r.text


def _by_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return sorted((e for e in events if e["event_type"] == kind), key=lambda e: e["start_time"])


def test_openinference_openai(client: httpx.Client, project: str) -> None:
    _post_fixture(client, "openinference.pb", project)
    events = export(client, project)
    assert len(_by_type(events, "session")) == 3  # one trace per call, no session attribute
    chat, tools, embed = _by_type(events, "model")
    assert chat["config"]["model"] == "gpt-4o-mini-2024-07-18"
    assert chat["config"]["provider"] == "openai"
    assert chat["config"]["hyperparameters"] == {"max_tokens": 64, "temperature": 0.2, "top_p": 0.9}
    assert chat["inputs"]["chat_history"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hello in French and Chinese; what is 6×7?"},
    ]
    assert chat["outputs"]["role"] == "assistant"
    assert chat["outputs"]["content"] == "Bonjour ! 你好。The answer is 42."
    assert chat["metadata"]["prompt_tokens"] == 21 and chat["metadata"]["completion_tokens"] == 9
    assert chat["metadata"]["cost"] > 0
    assert tools["outputs"]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": {"city": "Zürich"},
    }
    assert tools["config"]["tools"][0]["function"]["name"] == "get_weather"
    assert embed["config"]["model"] == "text-embedding-3-small"
    assert [e["text"] for e in embed["outputs"]["embeddings"]] == ["hivelog", "ruche"]
    for event in (chat, tools, embed):
        assert event["parent_id"] == event["session_id"]


def test_openllmetry_openai(client: httpx.Client, project: str) -> None:
    _post_fixture(client, "openllmetry.pb", project)
    chat, tools, embed = _by_type(export(client, project), "model")
    assert chat["config"]["model"] == "gpt-4o-mini"
    assert chat["metadata"]["response_model"] == "gpt-4o-mini-2024-07-18"
    assert chat["config"]["hyperparameters"]["temperature"] == 0.2
    assert chat["inputs"]["chat_history"][1]["content"].endswith("6×7?")
    assert chat["outputs"]["content"] == "Bonjour ! 你好。The answer is 42."
    assert chat["metadata"]["total_tokens"] == 30
    assert tools["config"]["tools"][0]["name"] == "get_weather"
    assert tools["outputs"]["tool_calls"][0]["function"]["arguments"] == {"city": "Zürich"}
    assert embed["metadata"]["prompt_tokens"] == 5
    # unmapped attributes are kept, nested, in metadata
    assert chat["metadata"]["gen_ai"]["is_streaming"] is False


def test_genai_semconv_openai_v2(client: httpx.Client, project: str) -> None:
    _post_fixture(client, "genai.pb", project)
    chat, tools, embed = _by_type(export(client, project), "model")
    assert chat["config"] == {
        "model": "gpt-4o-mini",
        "provider": "openai",
        "hyperparameters": {"temperature": 0.2, "top_p": 0.9, "max_tokens": 64},
    }
    assert chat["inputs"]["chat_history"][0] == {"role": "system", "content": "You are terse."}
    assert chat["outputs"]["finish_reason"] == "stop"
    assert tools["outputs"]["tool_calls"][0]["id"] == "call_1"
    assert embed["event_name"] == "embeddings text-embedding-3-small"
    assert embed["metadata"]["gen_ai"]["embeddings"]["dimension"]["count"] == 3


@pytest.mark.parametrize("name", ["honeyhive-1.7.0.json", "honeyhive-0.2.57.pb"])
def test_honeyhive_sdk_generations_give_the_same_events(client: httpx.Client, name: str) -> None:
    project = "fixtures"  # both SDK fixtures name their project in attributes
    _post_fixture(client, name, "ignored-because-attributes-name-one")
    sid = "3f0c2a9e-5b7d-4c1e-9a2f-6d8e0b1c2a3f"
    events = export(client, project, is_("session_id", sid))
    tool = next(e for e in events if e["event_name"].endswith("lookup") and _from(e, name))
    chain = next(e for e in events if e["event_id"] == tool["parent_id"])
    assert tool["event_type"] == "tool" and chain["event_type"] == "chain"
    assert chain["parent_id"] == sid
    assert tool["inputs"] == {"city": "Zürich", "days": [1, 2]}
    assert tool["outputs"] == {
        "result": {"city": "Zürich", "forecast": ["sun", "rain"], "days": [1, 2]}
    }
    assert chain["inputs"] == {"question": "What is the weather?"}
    assert chain["outputs"] == {"result": ["answer", "日本語"]}
    assert chain["metadata"]["step"] == "plan"
    session = next(e for e in events if e["event_id"] == sid)
    assert session["event_type"] == "session"


def _from(event: dict[str, Any], fixture: str) -> bool:
    scope = event["metadata"]["otel"]["scope"]
    return (scope == "honeyhive.tracer.custom") == fixture.endswith(".pb")


# Hand-written spans in shapes no installable library version here still emits, taken from
# the libraries' sources: OpenLLMetry < 0.40 (`llm.request.type`, `gen_ai.prompt.N.*`,
# `llm.usage.total_tokens`, `traceloop.span.kind`/`traceloop.entity.*`) and OpenInference
# TOOL/RETRIEVER spans.
HAND_WRITTEN: list[tuple[dict[str, Any], str]] = [
    (
        {
            "llm.request.type": "chat",
            "gen_ai.system": "OpenAI",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "hi",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "hello",
            "gen_ai.completion.0.finish_reason": "stop",
            "gen_ai.usage.prompt_tokens": 3,
            "gen_ai.usage.completion_tokens": 2,
            "llm.usage.total_tokens": 5,
        },
        "model",
    ),
    (
        {
            "traceloop.span.kind": "task",
            "traceloop.entity.name": "summarise",
            "traceloop.entity.input": '{"args": ["text"], "kwargs": {}}',
            "traceloop.entity.output": '"short"',
        },
        "chain",
    ),
    ({"traceloop.span.kind": "tool", "traceloop.entity.name": "search"}, "tool"),
    (
        {
            "openinference.span.kind": "RETRIEVER",
            "input.value": "what is hivelog",
            "retrieval.documents.0.document.id": "d1",
            "retrieval.documents.0.document.content": "a logging server",
            "retrieval.documents.0.document.score": 0.9,
        },
        "tool",
    ),
    ({"openinference.span.kind": "AGENT", "input.value": "go"}, "chain"),
    ({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper"}, "chain"),
    ({"honeyhive_event_type": "model", "openinference.span.kind": "CHAIN"}, "model"),
]


def test_hand_written_legacy_shapes(client: httpx.Client, project: str) -> None:
    trace_id = new_trace()
    spans = [
        {
            "traceId": trace_id,
            "spanId": new_span(),
            "name": f"span-{i}",
            "kind": 1,
            "startTimeUnixNano": str(1_700_000_000_000_000_000 + i),
            "endTimeUnixNano": str(1_700_000_000_001_000_000 + i),
            "attributes": json_attrs(attrs),
        }
        for i, (attrs, _) in enumerate(HAND_WRITTEN)
    ]
    body = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    r = client.post("/v1/traces", json=body, params={"project": project})
    assert r.status_code == 200 and r.json() == {}, r.text
    events = {e["event_name"]: e for e in export(client, project) if e["event_type"] != "session"}
    for i, (_, kind) in enumerate(HAND_WRITTEN):
        assert events[f"span-{i}"]["event_type"] == kind, (i, events[f"span-{i}"])
    legacy = events["span-0"]
    assert legacy["inputs"]["chat_history"] == [{"role": "user", "content": "hi"}]
    assert legacy["outputs"] == {"role": "assistant", "content": "hello", "finish_reason": "stop"}
    assert legacy["metadata"]["total_tokens"] == 5
    assert legacy["config"]["provider"] == "OpenAI"
    task = events["span-1"]
    assert task["inputs"] == {"args": ["text"]}  # keyword arguments lifted, none here
    assert task["outputs"] == {"result": "short"}
    assert task["metadata"]["traceloop"]["entity"]["name"] == "summarise"
    retriever = events["span-3"]
    assert retriever["outputs"]["documents"] == [
        {"id": "d1", "content": "a logging server", "score": 0.9}
    ]
    assert retriever["inputs"]["input"] == "what is hivelog"
