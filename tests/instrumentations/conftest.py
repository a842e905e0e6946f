"""Real instrumentation libraries, each in its own virtualenv, against a real `hivelog serve`.

Each stack (`requirements/<stack>.txt`, installed by `make instrumentations` into
`.venv-instr/<stack>`) runs an app from `apps/` as a subprocess with that virtualenv's
Python; the Vercel AI SDK runs under `node` from `node/`. The model is the fake OpenAI server
of `fake_openai.py`, on 127.0.0.1. The server is the main virtualenv's `hivelog`, started by
the `server` fixture of tests/conftest.py on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT
from tests.helpers import export, is_
from tests.instrumentations.fake_openai import FakeOpenAI

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
NODE_DIR = HERE / "node"
VENVS = ROOT / ".venv-instr"
_INSTALL = "run `make instrumentations` (or `make test`) to install it"


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any OpenTelemetry/Langfuse/Traceloop setting."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "LANGFUSE_", "TRACELOOP_", "LOGFIRE_", "HH_", "HONEYHIVE"))
    }
    return {**env, **extra}


def _finish(proc: subprocess.CompletedProcess[str], what: str) -> dict[str, Any]:
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"{what} printed no result:\n{proc.stdout}\n{proc.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run_app(stack: str, app: str, env: dict[str, str]) -> dict[str, Any]:
    """Run `apps/<app>` with `.venv-instr/<stack>`'s Python; its last JSON line (the trace id)."""
    python = VENVS / stack / "bin" / "python"
    assert python.exists(), f"{python} is missing: {_INSTALL}"
    proc = subprocess.run(
        [str(python), str(APPS / app)],
        cwd=APPS,
        env=_clean_env(env),
        capture_output=True,
        text=True,
        timeout=180,
    )
    return _finish(proc, f"{stack}/{app}")


def run_node(script: str, env: dict[str, str]) -> dict[str, Any]:
    """Run `node/<script>` (its packages from `npm ci` in node/); its last JSON line."""
    assert (NODE_DIR / "node_modules").exists(), f"node packages missing: {_INSTALL}"
    proc = subprocess.run(
        ["node", script],
        cwd=NODE_DIR,
        env=_clean_env(env),
        capture_output=True,
        text=True,
        timeout=180,
    )
    return _finish(proc, f"node {script}")


def trace_events(client: httpx.Client, project: str, trace_id: str) -> list[dict[str, Any]]:
    """Every event stored for one trace's spans (the session event not included)."""
    found = export(client, project, is_("metadata.otel.trace_id", trace_id))
    return [e for e in found if e["event_type"] != "session"]


def by_name(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return sorted((e for e in events if e["event_name"] == name), key=lambda e: e["start_time"])


def one(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = by_name(events, name)
    assert len(found) == 1, (name, [e["event_name"] for e in events])
    return found[0]


def assert_one_session(events: list[dict[str, Any]]) -> str:
    """All the trace's events in one session, each parent inside the trace or the session."""
    sessions = {e["session_id"] for e in events}
    assert len(sessions) == 1, sessions
    (session,) = sessions
    ids = {e["event_id"] for e in events}
    for e in events:
        assert e["parent_id"] in ids | {session}, e
    return session


def assert_tokens_and_cost(event: dict[str, Any], prompt: int = 21, completion: int = 9) -> None:
    md = event["metadata"]
    assert (md["prompt_tokens"], md["completion_tokens"], md["total_tokens"]) == (
        prompt,
        completion,
        prompt + completion,
    ), md
    assert md["cost"] > 0, md


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(p.get("text") or p.get("content") or "" for p in content)
    return str(content)


def assert_openai_calls(calls: list[dict[str, Any]], model: str, provider: str | None) -> None:
    """The four calls of apps/_calls.py, in order: plain, tool call, tool result, streamed."""
    from tests.instrumentations import fake_openai as fake

    assert len(calls) == 4, [c["event_name"] for c in calls]
    plain, ask, answer, streamed = calls
    for call in calls:
        assert call["event_type"] == "model", call
        assert call["config"]["model"] == model
        assert call["config"].get("provider") == provider
        assert_tokens_and_cost(call)
    assert [(m["role"], text_of(m)) for m in plain["inputs"]["chat_history"]] == [
        ("system", "You are terse."),
        ("user", "Say hello in French and Chinese; what is 6×7?"),
    ]
    assert plain["outputs"]["content"] == fake.ANSWER
    assert plain["outputs"]["role"] == "assistant"
    (call,) = ask["outputs"]["tool_calls"]
    assert call["id"] == fake.TOOL_CALL_ID
    assert call["function"]["name"] == fake.TOOL_NAME
    assert call["function"]["arguments"] == fake.TOOL_ARGUMENTS
    roles = [m["role"] for m in answer["inputs"]["chat_history"]]
    assert roles[0] == "user" and roles[1] == "assistant" and roles[-1] in ("tool", "user")
    assert answer["outputs"]["content"] == fake.WEATHER_ANSWER
    assert streamed["outputs"]["content"] == fake.ANSWER
    for call in calls:  # the raw request and response are not stored a second time
        assert "input" not in call["inputs"] and "output" not in call["outputs"], call
