"""The sessions list's previews on every backend: a session's first user input and last output
come from the session event when it says them, else from its events (the first model call's
last user message, the last model call's output; other events when there is no model call),
read for the whole page in one query (`Store.session_previews`)."""

from __future__ import annotations

import html
import re
import time
import uuid
from typing import Any

import httpx

from hivelog.query.aggregates import PREVIEW_CHARS, preview

LONG = "A long answer " + "with many words " * 100


def _sessions(now: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Sessions (to /session/start), events, and what each session's previews must say."""
    agent, own, tools, silent = (str(uuid.uuid4()) for _ in range(4))
    starts = [
        {"session_id": agent, "session_name": "agent", "start_time": now - 4000},
        {"session_id": own, "session_name": "own", "start_time": now - 3000,
         "inputs": {"chat_history": [{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": "  Own\n question  "}]}},
        {"session_id": tools, "session_name": "tools", "start_time": now - 2000},
        {"session_id": silent, "session_name": "silent", "start_time": now - 1000},
    ]  # fmt: skip
    history = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "an earlier turn"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "What the user typed first"}]},
    ]
    events = [
        # agent: a chain starts first with inputs, but the model call's chat history says
        # what the user typed; the last model call's output beats a later tool's
        {"session_id": agent, "event_type": "chain", "event_name": "run",
         "start_time": now - 3990, "inputs": {"task": "chain input"},
         "outputs": {"result": "chain output"}},
        {"session_id": agent, "event_type": "model", "event_name": "plan",
         "start_time": now - 3980, "inputs": {"chat_history": history},
         "outputs": {"role": "assistant", "content": "first answer"}},
        {"session_id": agent, "event_type": "model", "event_name": "answer",
         "start_time": now - 3970,
         "inputs": {"chat_history": [*history, {"role": "user", "content": "a later turn"}]},
         "outputs": {"role": "assistant", "content": LONG}},
        {"session_id": agent, "event_type": "tool", "event_name": "log",
         "start_time": now - 3960, "inputs": {"query": "tool input"},
         "outputs": {"status": "logged"}},
        # own: the session's own input wins; its output comes from its model call
        {"session_id": own, "event_type": "model", "event_name": "answer",
         "start_time": now - 2990,
         "inputs": {"chat_history": [{"role": "user", "content": "not this"}]},
         "outputs": {"role": "assistant", "content": "Own answer."}},
        # tools: no model call: the first and last events with inputs / outputs
        {"session_id": tools, "event_type": "tool", "event_name": "search",
         "start_time": now - 1990, "inputs": {"id": "x1", "query": "where is 4417"},
         "outputs": {"results": ["first result"]}},
        {"session_id": tools, "event_type": "tool", "event_name": "fetch",
         "start_time": now - 1980, "inputs": {"url": "https://example.com"},
         "outputs": {"results": ["東京の天気は晴れです"]}},
        # silent: events without inputs or outputs
        {"session_id": silent, "event_type": "tool", "event_name": "noop",
         "start_time": now - 990},
    ]  # fmt: skip
    cut = " ".join(LONG.split())[:PREVIEW_CHARS].rstrip() + "…"
    expected = {
        agent: ("What the user typed first", cut),
        own: ("Own question", "Own answer."),
        tools: ("where is 4417", "東京の天気は晴れです"),
        silent: ("", ""),
    }
    return starts, events, expected


def _previews(page: str) -> dict[str, tuple[str, str]]:
    """session id → the title of its input and output preview cells."""
    out = {}
    for row in re.findall(r'<tr data-session="([^"]+)".*?</tr>', page, re.S):
        body = page.split(f'<tr data-session="{row}"', 1)[1].split("</tr>", 1)[0]
        titles = re.findall(r'<td class="preview" title="([^"]*)"', body)
        out[row] = tuple(html.unescape(t) for t in titles)
    return out  # type: ignore[return-value]


def test_previews_from_the_session_or_its_events(client: httpx.Client, project: str) -> None:
    starts, events, expected = _sessions(int(time.time() * 1000))
    for start in starts:
        r = client.post("/session/start", json={"session": {**start, "project": project}})
        assert r.status_code == 200, r.text
    r = client.post("/events/batch", json={"project": project, "events": events})
    assert r.status_code == 200, r.text
    r = client.get("/", params={"project": project})
    assert r.status_code == 200, r.text
    assert _previews(r.text) == expected


def test_preview_picks_what_a_person_would_call_the_text() -> None:
    history = {"chat_history": [{"role": "user", "content": "one"},
                                {"role": "assistant", "content": "two"},
                                {"role": "user", "content": "three"}]}  # fmt: skip
    assert preview(history, "user") == "one"
    assert preview(history, "user", last=True) == "three"
    assert preview({"role": "assistant", "content": "", "tool_calls": []}, "assistant") is None
    parts = [{"type": "text", "text": "What is in this picture?"}, {"type": "image_url"}]
    assert preview({"messages": [{"role": "user", "content": parts}]}, "user") == parts[0]["text"]
    assert preview({"id": "x", "name": "n", "answer": " a\n b "}, "assistant") == "a b"
    assert preview({"nested": {"deeper": ["", {"text": "found"}]}}, "user") == "found"
    assert preview({"count": 3, "ok": True}, "user") is None
    assert preview("x" * (PREVIEW_CHARS + 5), "user") == "x" * PREVIEW_CHARS + "…"
