"""The Langfuse SDK (OpenTelemetry-based) with its OpenAI integration, exporting to hivelog.

Configured only through the environment, as a user would: LANGFUSE_BASE_URL (hivelog's
address), LANGFUSE_PUBLIC_KEY (any), LANGFUSE_SECRET_KEY (a hivelog API key).
"""

from __future__ import annotations

import _calls
from langfuse import get_client, observe, propagate_attributes
from langfuse.openai import openai


@observe(as_type="tool", name="get_weather")
def get_weather(city: str) -> dict[str, object]:
    return _calls.get_weather(city)


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
        _calls.report(langfuse.get_current_trace_id() or "")
        return "done"


assert get_client().auth_check()  # GET /api/public/projects with the same Basic auth
agent()
get_client().flush()
get_client().shutdown()
