"""A fake OpenAI-compatible model server (standard library only) for the instrumentation tests.

It answers `POST /v1/chat/completions` the same way every time, so each test knows exactly
what the instrumented call produced:

* a request that offers tools and has no tool result yet → one tool call
  (`get_weather({"city": "Paris"})`, finish reason `tool_calls`);
* a request whose last message is a tool result → `WEATHER_ANSWER`;
* any other request → `ANSWER`;
* `"stream": true` → the same answer as server-sent chunks, then a final chunk with no
  choices and the usage (what OpenAI sends with `stream_options.include_usage`), then `[DONE]`.

Usage is always `PROMPT_TOKENS` / `COMPLETION_TOKENS`. Every request body is recorded in
`requests` so a test can check what the library sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
ANSWER = "Bonjour ! 你好。The answer is 42."
WEATHER_ANSWER = "It is sunny in Paris, 21 °C."
TOOL_NAME = "get_weather"
TOOL_ARGUMENTS = {"city": "Paris"}
TOOL_CALL_ID = "call_weather_1"
PROMPT_TOKENS = 21
COMPLETION_TOKENS = 9


def _usage() -> dict[str, Any]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
    }


def _tool_call() -> dict[str, Any]:
    return {
        "id": TOOL_CALL_ID,
        "type": "function",
        "function": {"name": TOOL_NAME, "arguments": json.dumps(TOOL_ARGUMENTS)},
    }


def reply(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The assistant message and finish reason this server gives `body`."""
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return {"role": "assistant", "content": WEATHER_ANSWER}, "stop"
    if body.get("tools"):
        return {"role": "assistant", "content": None, "tool_calls": [_tool_call()]}, "tool_calls"
    return {"role": "assistant", "content": ANSWER}, "stop"


def completion(body: dict[str, Any]) -> dict[str, Any]:
    message, finish = reply(body)
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": RESPONSE_MODEL,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": _usage(),
        "system_fingerprint": "fp_fake",
    }


def chunks(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The streamed form of `completion(body)`: role, content pieces, finish, usage."""
    message, finish = reply(body)
    base = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": RESPONSE_MODEL,
        "system_fingerprint": "fp_fake",
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return {**base, "choices": [choice]}

    yield chunk({"role": "assistant", "content": ""})
    if message.get("tool_calls"):
        call = _tool_call()
        yield chunk({"tool_calls": [{"index": 0, **call}]})
    else:
        text = message["content"]
        for start in range(0, len(text), 8):
            yield chunk({"content": text[start : start + 8]})
    yield chunk({}, finish)
    yield {**base, "choices": [], "usage": _usage()}


class FakeOpenAI(ThreadingHTTPServer):
    """`with FakeOpenAI() as fake:` serves on 127.0.0.1 at `fake.url` (…/v1) until exit."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # head and body are two writes: no 40 ms wait

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(404, b'{"error": {"message": "the fake model server has no GET routes"}}')

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.split("?")[0].endswith("/chat/completions"):
            self._send(404, b'{"error": {"message": "only /v1/chat/completions is faked"}}')
            return
        body = json.loads(raw)
        with self.server.lock:
            self.server.requests.append(body)
        if not body.get("stream"):
            self._send(200, json.dumps(completion(body)).encode())
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for item in chunks(body):
            self.wfile.write(b"data: " + json.dumps(item).encode() + b"\n\n")
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True
