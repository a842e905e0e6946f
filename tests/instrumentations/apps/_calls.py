"""The model calls every instrumented app makes, with the `openai` client, against the fake server.

Run inside each stack's own virtualenv (`.venv-instr/<stack>`), so stdlib and `openai` only.
Three calls, as the tests expect them (tests/instrumentations/fake_openai.py answers them):
a plain chat call, a call offering a tool (answered with a tool call) followed by the call
that sends the tool's result back, and a streamed call with a final usage chunk.
"""

from __future__ import annotations

import json
import os
from typing import Any

SYSTEM = "You are terse."
QUESTION = "Say hello in French and Chinese; what is 6×7?"
WEATHER_QUESTION = "What is the weather in Paris?"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def get_weather(city: str) -> dict[str, Any]:
    return {"city": city, "forecast": "sunny", "celsius": 21}


def client(openai_module: Any = None) -> Any:
    if openai_module is None:
        import openai as openai_module
    return openai_module.OpenAI(
        api_key="sk-fake", base_url=os.environ["FAKE_OPENAI_URL"], max_retries=0
    )


def plain(c: Any) -> str:
    r = c.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
        temperature=0.2,
    )
    return str(r.choices[0].message.content)


def tool_round(c: Any, run_tool: Any = None) -> str:
    messages: list[Any] = [{"role": "user", "content": WEATHER_QUESTION}]
    first = c.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    arguments = json.loads(call.function.arguments)
    result = (run_tool or get_weather)(**arguments)
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
    second = c.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    return str(second.choices[0].message.content)


def streamed(c: Any) -> str:
    stream = c.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
    return "".join(text)


def all_calls(c: Any, run_tool: Any = None) -> None:
    plain(c)
    tool_round(c, run_tool)
    streamed(c)


def report(trace_id: int | str) -> None:
    """The one line the test reads: the trace id of the run, as 32 hex digits."""
    if isinstance(trace_id, int):
        trace_id = f"{trace_id:032x}"
    print(json.dumps({"trace_id": trace_id}), flush=True)
