"""The Langfuse SDK (v3+, OpenTelemetry-based) as a drop-in: LANGFUSE_BASE_URL is hivelog and
the secret key a hivelog API key (HTTP Basic auth, as the SDK sends it)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server, new_database
from tests.instrumentations import fake_openai as fake
from tests.instrumentations.conftest import (
    assert_one_session,
    assert_openai_calls,
    by_name,
    one,
    run_app,
    trace_events,
)
from tests.instrumentations.fake_openai import RESPONSE_MODEL, FakeOpenAI
from tests.security.keyed import create_key

PROJECT = "langfuse-app"


@pytest.fixture(scope="module")
def keyed(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """A server that requires keys, and a key of PROJECT."""
    with new_database(backend, Path(tmp_path_factory.mktemp("langfuse"))) as db:
        key = create_key(db, PROJECT)
        srv = Server(db)
        srv.start()
        yield srv, key
        srv.stop()


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_langfuse_sdk_traces_land(keyed: tuple[Server, str], fake_openai: FakeOpenAI) -> None:
    server, key = keyed
    run = run_app(
        "otel",
        "langfuse_app.py",
        {
            "FAKE_OPENAI_URL": fake_openai.url,
            "LANGFUSE_BASE_URL": server.url,
            "LANGFUSE_PUBLIC_KEY": "pk-lf-anything",
            "LANGFUSE_SECRET_KEY": key,
        },
    )
    with server.client(headers={"Authorization": f"Bearer {key}"}) as client:
        events = trace_events(client, PROJECT, run["trace_id"])
    session = assert_one_session(events)
    assert session == "lf-session-1"
    root = one(events, "agent run")
    assert root["event_type"] == "chain" and root["outputs"] == {"result": "done"}
    calls = by_name(events, "OpenAI-generation")
    assert all(c["parent_id"] == root["event_id"] for c in calls)
    assert_openai_calls(calls, RESPONSE_MODEL, None)  # the SDK sends no provider
    assert calls[1]["config"]["tools"][0]["function"]["name"] == "get_weather"
    assert calls[0]["config"]["hyperparameters"] == {
        "temperature": 0.2,
        "top_p": 1,
        "frequency_penalty": 0,
        "presence_penalty": 0,
    }
    assert calls[3]["metadata"]["time_to_first_token"] >= 0  # completion_start_time
    assert calls[3]["metadata"]["finish_reason"] == "stop"
    tool = one(events, "get_weather")
    assert tool["event_type"] == "tool"
    assert tool["inputs"] == fake.TOOL_ARGUMENTS
    assert tool["outputs"] == {"city": "Paris", "forecast": "sunny", "celsius": 21}
    priced = one(events, "priced call")
    assert priced["event_type"] == "model" and priced["config"]["model"].startswith("claude")
    assert priced["inputs"]["chat_history"] == [{"role": "user", "content": "Summarise."}]
    assert priced["outputs"] == {"role": "assistant", "content": "A summary."}
    md = priced["metadata"]
    assert (md["prompt_tokens"], md["completion_tokens"], md["total_tokens"]) == (100, 20, 120)
    assert md["cached_tokens"] == 40 and md["step"] == 3
    assert md["cost"] == pytest.approx(0.0005)  # the cost the SDK sent, kept as sent
    checkpoint = one(events, "checkpoint")
    assert checkpoint["event_type"] == "chain" and checkpoint["inputs"] == {"stage": "summarised"}
    assert checkpoint["metadata"]["observation_type"] == "event"
    failing = one(events, "failing step")
    assert failing["error"] == "backend down" and failing["metadata"]["level"] == "ERROR"
    for event in events:  # trace-level attributes, propagated to every observation
        assert event["user_properties"]["user_id"] == "user-42"
        assert event["metadata"]["tags"] == ["beta", "weather"]
        assert event["metadata"]["tenant"] == "acme"
        assert event["metadata"]["session_name"] == "weather agent"
        assert not any(k.startswith("langfuse") for k in event["metadata"]), event["metadata"]


def test_langfuse_routes_and_basic_auth(keyed: tuple[Server, str]) -> None:
    server, key = keyed
    with server.client() as client:
        projects = client.get("/api/public/projects", headers=_basic("pk", key))
        assert projects.status_code == 200
        (project,) = projects.json()["data"]
        assert project["name"] == PROJECT and project["organization"]["id"]
        wrong = client.post(
            "/api/public/otel/v1/traces",
            content=b"",
            headers={**_basic("pk", "sk-not-a-hivelog-key"), "Content-Type": "application/json"},
        )
        assert wrong.status_code == 401
        missing = client.get("/api/public/v2/prompts/greeting", headers=_basic("pk", key))
        assert missing.status_code == 404
        assert "/api/public/otel/v1/traces" in missing.json()["error"]["message"]
        ingestion = client.post(
            "/api/public/ingestion", json={"batch": []}, headers=_basic("pk", key)
        )
        assert ingestion.status_code == 404
