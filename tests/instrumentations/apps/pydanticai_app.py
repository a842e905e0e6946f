"""Pydantic AI instrumented by `logfire`, exporting OTLP/HTTP to hivelog (not to Logfire).

As a user sets it up: `logfire.configure(send_to_logfire=False)` and the standard
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (hivelog's `/v1/traces`). `PYDANTIC_AI_CONTENT=0` records
no message content. Two agent runs, each its own trace and conversation: one that calls a tool,
one streamed. Prints both conversation ids (every span of a run names it).
`PYDANTIC_AI_ONE_TRACE=1`: the same two runs inside one app span, so one trace holds two
conversations.
"""

from __future__ import annotations

import json
import os

import _calls
import logfire
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

logfire.configure(send_to_logfire=False, service_name="pydantic-ai-app", console=False)
logfire.instrument_pydantic_ai(include_content=os.environ.get("PYDANTIC_AI_CONTENT", "1") == "1")
model = OpenAIChatModel(
    "gpt-4o-mini",
    provider=OpenAIProvider(base_url=os.environ["FAKE_OPENAI_URL"], api_key="sk-fake"),
)
weather_agent = Agent(model, system_prompt=_calls.SYSTEM, name="weather_agent")
chat_agent = Agent(model, name="chat_agent")


@weather_agent.tool_plain
def get_weather(city: str) -> dict[str, object]:
    """Current weather for a city."""
    return _calls.get_weather(city)


def runs() -> tuple[str, str]:
    tool_run = weather_agent.run_sync(_calls.WEATHER_QUESTION)
    with chat_agent.run_stream_sync(_calls.QUESTION) as stream:
        "".join(stream.stream_text(delta=True))
        streamed_conversation = stream.conversation_id
    return tool_run.conversation_id, streamed_conversation


if os.environ.get("PYDANTIC_AI_ONE_TRACE") == "1":
    with logfire.span("two agent runs"):
        tool_conversation, streamed_conversation = runs()
else:
    tool_conversation, streamed_conversation = runs()
logfire.force_flush()
logfire.shutdown()
print(json.dumps({"tool_run": tool_conversation, "streamed": streamed_conversation}))
