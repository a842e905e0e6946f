"""`openinference-instrumentation-openai` exporting OTLP/HTTP to hivelog."""

from __future__ import annotations

import _calls
import _otel
from openinference.instrumentation.openai import OpenAIInstrumentor

provider = _otel.provider()
OpenAIInstrumentor().instrument(tracer_provider=provider)
tracer = provider.get_tracer("openinference-app")
with tracer.start_as_current_span("agent run") as root:
    _calls.all_calls(_calls.client())
provider.shutdown()
_calls.report(root.get_span_context().trace_id)
