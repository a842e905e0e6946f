"""The Langfuse SDK (OpenTelemetry-based) with its OpenAI integration, exporting to hivelog.

Configured only through the environment, as a user would: LANGFUSE_BASE_URL (hivelog's
address), LANGFUSE_PUBLIC_KEY (any), LANGFUSE_SECRET_KEY (a hivelog API key).
"""

from __future__ import annotations

import _calls
from langfuse import Langfuse, get_client, observe, propagate_attributes
from langfuse.openai import openai


@observe(as_type="tool", name="get_weather")
def get_weather(city: str) -> dict[str, object]:
    return _calls.get_weather(city)


def _manual(langfuse: Langfuse) -> None:
    """Observations made by hand: a generation with its own usage and cost, an event, and a
    span that ends in error."""
    with langfuse.start_as_current_observation(
        as_type="generation",
        name="priced call",
        model="claude-3-5-haiku-20241022",
        input=[{"role": "user", "content": "Summarise."}],
        usage_details={"input": 100, "output": 20, "cache_read_input_tokens": 40},
        cost_details={"input": 0.0001, "output": 0.0004},
        metadata={"step": 3},
    ) as generation:
        generation.update(output="A summary.")
    langfuse.create_event(name="checkpoint", input={"stage": "summarised"})
    with langfuse.start_as_current_observation(
        name="failing step", level="ERROR", status_message="backend down"
    ):
        pass


@observe(name="agent run")
def agent() -> str:
    with propagate_attributes(
        user_id="user-42",
        session_id="lf-session-1",
        tags=["beta", "weather"],
        metadata={"tenant": "acme"},
        trace_name="weather agent",
    ):
        _calls.all_calls(_calls.client(openai), get_weather)
        langfuse = get_client()
        _manual(langfuse)
        _calls.report(langfuse.get_current_trace_id() or "")
        return "done"


assert get_client().auth_check()  # GET /api/public/projects with the same Basic auth
agent()
get_client().flush()
get_client().shutdown()
