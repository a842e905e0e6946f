"""Pydantic AI instrumented by `logfire`, exporting OTLP/HTTP to hivelog (not to Logfire).

As a user sets it up: `logfire.configure(send_to_logfire=False)` and the standard
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (hivelog's `/v1/traces`). `PYDANTIC_AI_VERSION` picks the
instrumentation data format (default: the library's); `PYDANTIC_AI_CONTENT=0` records no content.
"""

from __future__ import annotations

import os

import _calls
import logfire
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

logfire.configure(send_to_logfire=False, service_name="pydantic-ai-app", console=False)
version = os.environ.get("PYDANTIC_AI_VERSION")
logfire.instrument_pydantic_ai(
    version=int(version) if version else None,  # type: ignore[arg-type]
    include_content=os.environ.get("PYDANTIC_AI_CONTENT", "1") == "1",
)
model = OpenAIChatModel(
    "gpt-4o-mini",
    provider=OpenAIProvider(base_url=os.environ["FAKE_OPENAI_URL"], api_key="sk-fake"),
)
weather_agent = Agent(model, system_prompt=_calls.SYSTEM, name="weather_agent")


@weather_agent.tool_plain
def get_weather(city: str) -> dict[str, object]:
    """Current weather for a city."""
    return _calls.get_weather(city)


with logfire.span("agent run") as root:
    weather_agent.run_sync(_calls.WEATHER_QUESTION)
    with weather_agent.run_stream_sync(_calls.QUESTION) as stream:  # type: ignore[attr-defined]
        "".join(stream.stream_text(delta=True))
    trace_id = root.get_span_context().trace_id  # type: ignore[union-attr]
logfire.force_flush()
logfire.shutdown()
_calls.report(trace_id)
