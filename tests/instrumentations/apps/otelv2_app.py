"""`opentelemetry-instrumentation-openai-v2` exporting OTLP/HTTP to hivelog.

Content capture is chosen by the environment, as a user chooses it:
`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` = `SPAN_ONLY`, `EVENT_ONLY` or
`SPAN_AND_EVENT` with `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`. Events are
log records, exported to hivelog's `/v1/logs` by the OTLP log exporter.
"""

from __future__ import annotations

import _calls
import _otel
from opentelemetry import _logs
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

provider = _otel.provider()
logger_provider = LoggerProvider()
logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
_logs.set_logger_provider(logger_provider)
OpenAIInstrumentor().instrument(tracer_provider=provider, logger_provider=logger_provider)
tracer = provider.get_tracer("otelv2-app")
with tracer.start_as_current_span("agent run") as root:
    _calls.all_calls(_calls.client())
provider.shutdown()
logger_provider.shutdown()
_calls.report(root.get_span_context().trace_id)
