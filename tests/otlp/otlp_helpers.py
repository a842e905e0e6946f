"""Build OTLP requests by hand (protobuf messages or OTLP/JSON dicts) and read spans back."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.conftest import Server, new_database
from tests.helpers import export, is_

PROTOBUF = {"Content-Type": "application/x-protobuf"}


@contextlib.contextmanager
def two_processes(directory: Path) -> Iterator[tuple[Server, Server]]:
    """Two server processes on one new PostgreSQL database (what one process stores, the
    other must see and converge with), stopped after."""
    with new_database("postgres", directory) as db:
        first, second = Server(db), Server(db)
        first.start()
        second.start()
        try:
            yield first, second
        finally:
            first.stop()
            second.stop()


SPAN_NAMESPACE = uuid.UUID("0b5c7e1e-4f43-5e8a-9d6b-2c1f7a3e9b10")


def event_id(trace_id: str, span_id: str) -> str:
    """The event id hivelog gives a span (docs/otlp.md), computed independently here."""
    return str(uuid.uuid5(SPAN_NAMESPACE, trace_id + span_id))


def trace_uuid(trace_id: str) -> str:
    return str(uuid.UUID(trace_id))


def new_trace() -> str:
    return os.urandom(16).hex()


def new_span() -> str:
    return os.urandom(8).hex()


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        out = AnyValue()
        out.array_value.values.extend(any_value(v) for v in value)
        return out
    return AnyValue(string_value=str(value))


def pb_span(
    trace_id: str,
    span_id: str,
    name: str,
    attrs: dict[str, Any] | None = None,
    parent: str = "",
    start_ns: int = 1_700_000_000_000_000_000,
    duration_ns: int = 5_000_000,
    status: int = 0,
    message: str = "",
) -> Span:
    span = Span(
        trace_id=bytes.fromhex(trace_id),
        span_id=bytes.fromhex(span_id),
        parent_span_id=bytes.fromhex(parent) if parent else b"",
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + duration_ns,
    )
    span.status.code = status  # type: ignore[assignment]
    span.status.message = message
    span.attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in (attrs or {}).items())
    return span


def pb_request(spans: list[Span], resource: dict[str, Any] | None = None) -> bytes:
    rs = ResourceSpans()
    rs.resource.attributes.extend(
        KeyValue(key=k, value=any_value(v))
        for k, v in (resource or {"service.name": "tests"}).items()
    )
    scope = ScopeSpans()
    scope.scope.name = "tests"
    scope.spans.extend(spans)
    rs.scope_spans.append(scope)
    return ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString()


def post_pb(client: httpx.Client, body: bytes, **kwargs: Any) -> ExportTraceServiceResponse:
    r = client.post("/v1/traces", content=body, headers=PROTOBUF, **kwargs)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-protobuf")
    answer = ExportTraceServiceResponse()
    answer.ParseFromString(r.content)
    return answer


def events_of(client: httpx.Client, project: str, **where: str) -> list[dict[str, Any]]:
    return export(client, project, *(is_(k, v) for k, v in where.items()))


def json_attrs(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        if isinstance(v, float):
            return {"doubleValue": v}
        return {"stringValue": str(v)}

    return [{"key": k, "value": value(v)} for k, v in attrs.items()]
