"""An OpenTelemetry SDK tracer provider exporting OTLP/HTTP where the environment says.

As a user sets it up: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (hivelog's `/v1/traces`) and
`OTEL_SERVICE_NAME`; the exporter reads them itself.
"""

from __future__ import annotations

from typing import Any


def provider() -> Any:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    return tracer_provider
