"""`traceloop-sdk` (OpenLLMetry) exporting OTLP/HTTP to hivelog: `TRACELOOP_BASE_URL`."""

from __future__ import annotations

import _calls
from opentelemetry import trace
from traceloop.sdk import Traceloop
from traceloop.sdk.decorators import tool, workflow

Traceloop.init(
    app_name="traceloop-app",
    disable_batch=True,
    telemetry_enabled=False,
)


@tool(name="get_weather")
def get_weather(city: str) -> dict[str, object]:
    return _calls.get_weather(city)


@workflow(name="agent run")
def agent() -> int:
    Traceloop.set_association_properties({"user_id": "user-42", "tenant": "acme"})
    _calls.all_calls(_calls.client(), get_weather)
    return trace.get_current_span().get_span_context().trace_id


trace_id = agent()
trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
_calls.report(trace_id)
