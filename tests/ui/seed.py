"""Realistic sessions for the UI tests and benchmark, sent through hivelog's real routes.

Each session: a chain holding a model call that asks for a tool, the tool call, and the
model's answer; some in Japanese, Russian or Chinese; some with an error; several models,
users and sources, so every filter, search and chart has something to find.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

MODELS = ("gpt-4o", "claude-3-5-sonnet", "gpt-4o-mini")
QUESTIONS = (
    ("Where is my order 4417?", "Your order 4417 ships today."),
    ("東京の天気はどうですか？", "東京は晴れです。気温は二十度です。"),
    ("Как вернуть товар?", "Вы можете вернуть товар в течение 30 дней."),
    ("我的包裹在哪里？", "您的包裹已经发货了。"),
)


def session_events(i: int, session_id: str, t0: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The session body and its events, `t0` = start in epoch ms."""
    question, answer = QUESTIONS[i % len(QUESTIONS)]
    model = MODELS[i % len(MODELS)]
    failed = i % 5 == 4
    chain_id, first_id, tool_id, second_id = (str(uuid.uuid4()) for _ in range(4))
    call_id = f"call_{i}"
    session = {
        "session_id": session_id,
        "session_name": f"support chat {i}",
        "source": "production" if i % 2 else "staging",
        "start_time": t0,
        "user_properties": {"user_id": f"user-{i % 3}"},
        "metadata": {"channel": "web" if i % 2 else "app"},
        "inputs": {"question": question},
    }
    history = [
        {"role": "system", "content": "You are a helpful support agent."},
        {"role": "user", "content": question},
    ]
    tool_call = {
        "id": call_id,
        "type": "function",
        "function": {"name": "lookup_order", "arguments": '{"order_id": "4417"}'},
    }
    events = [
        {
            "event_id": chain_id, "session_id": session_id, "parent_id": session_id,
            "event_type": "chain", "event_name": "answer", "start_time": t0 + 5,
            "duration": 1400, "inputs": {"question": question},
            "outputs": {"answer": answer},
        },
        {
            "event_id": first_id, "session_id": session_id, "parent_id": chain_id,
            "event_type": "model", "event_name": "plan", "start_time": t0 + 10,
            "duration": 600 + 37 * (i % 7), "config": {"model": model, "provider": "openai"},
            "inputs": {"chat_history": history},
            "outputs": {"role": "assistant", "content": "", "tool_calls": [tool_call]},
            "metadata": {"prompt_tokens": 40 + i, "completion_tokens": 12},
        },
        {
            "event_id": tool_id, "session_id": session_id, "parent_id": chain_id,
            "event_type": "tool", "event_name": "lookup_order", "start_time": t0 + 620,
            "duration": 80, "inputs": {"order_id": "4417"},
            "outputs": {"status": "shipped"},
            "error": "order service timed out after 80 ms" if failed else None,
        },
        {
            "event_id": second_id, "session_id": session_id, "parent_id": chain_id,
            "event_type": "model", "event_name": "answer", "start_time": t0 + 710,
            "duration": 650 + 23 * (i % 5), "config": {"model": model, "provider": "openai"},
            "inputs": {
                "chat_history": [
                    *history,
                    {"role": "assistant", "content": None, "tool_calls": [tool_call]},
                    {"role": "tool", "tool_call_id": call_id, "content": '{"status": "shipped"}'},
                ]
            },
            "outputs": {"role": "assistant", "content": answer},
            "metadata": {"prompt_tokens": 80 + i, "completion_tokens": 20, "cost": 0.0021},
        },
    ]  # fmt: skip
    return session, events


def post_session(client: httpx.Client, project: str, i: int, t0: int) -> str:
    """Start session `i` and send its events; returns the session id."""
    session_id = str(uuid.uuid4())
    session, events = session_events(i, session_id, t0)
    r = client.post("/session/start", json={"session": {**session, "project": project}})
    r.raise_for_status()
    r = client.post("/events/batch", json={"project": project, "events": events})
    r.raise_for_status()
    return session_id


def big_session(client: httpx.Client, project: str, n: int, t0: int) -> str:
    """One session of `n` events: chains of 10 model/tool calls, sent in batches of 500."""
    session_id = str(uuid.uuid4())
    client.post(
        "/session/start",
        json={"session": {"project": project, "session_id": session_id,
                          "session_name": f"big session ({n} events)", "start_time": t0}},
    ).raise_for_status()  # fmt: skip
    batch: list[dict[str, Any]] = []

    def send() -> None:
        client.post("/events/batch", json={"project": project, "events": batch}).raise_for_status()
        batch.clear()

    chain_id = session_id
    for k in range(n - 1):
        if k % 10 == 0:
            chain_id = str(uuid.uuid4())
            event: dict[str, Any] = {
                "event_id": chain_id, "event_type": "chain", "event_name": f"step {k // 10}",
                "parent_id": session_id, "start_time": t0 + k * 10, "duration": 95,
            }  # fmt: skip
        else:
            event = {
                "event_type": "model" if k % 2 else "tool",
                "event_name": f"call {k}",
                "parent_id": chain_id,
                "start_time": t0 + k * 10,
                "duration": 9,
                "config": {"model": "gpt-4o"} if k % 2 else {},
                "inputs": {"chat_history": [{"role": "user", "content": f"question {k}"}]},
                "outputs": {"role": "assistant", "content": f"answer {k}"},
                "metadata": {"total_tokens": 30} if k % 2 else {},
            }
        batch.append({**event, "session_id": session_id})
        if len(batch) == 500:
            send()
    if batch:
        send()
    return session_id
