"""OTLP/HTTP receiver: `/v1/traces` (and `/opentelemetry/v1/traces`), `/v1/logs`, `/v1/metrics`.

Answers follow the OTLP/HTTP spec: the response uses the request's encoding (protobuf or
JSON); refused spans are reported in `partial_success`; errors carry a `google.rpc.Status`
(protobuf requests) or a JSON body with `code` and `message` (JSON requests), with 400 for
data that cannot be decoded (permanent: do not retry) and 503 + Retry-After when the writer
queue is full (retryable). The 200 is sent only after the spans are committed.

Log records with a span context are folded into their span's event (`normalize.logs`), with
the same durability; records without one are refused one by one in `partial_success`.
Metrics are not stored: they get a 200 whose `partial_success` says so and counts what was
refused, so an app that points every OTLP signal at hivelog keeps working and the refusal is
visible in the exporter's own diagnostics.
"""

from __future__ import annotations

import msgspec
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from starlette.requests import Request
from starlette.responses import Response

from hivelog.errors import HivelogError
from hivelog.ingest.converters import convert_logs
from hivelog.ingest.otlp import logs_answer, store_converted, trace_answer
from hivelog.normalize.otlp import Converted
from hivelog.routes.http import converters, project_name, read_body, writer
from hivelog.wire.otlp import count_json, count_protobuf

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# google.rpc.Code for each HTTP status hivelog answers with
_GRPC_CODES = {400: 3, 404: 5, 413: 8, 415: 3, 503: 14}
_encode = msgspec.json.Encoder().encode
_EMPTY_TRACE_RESPONSE = ExportTraceServiceResponse().SerializeToString()


def _wants_json(request: Request, raw: bytes = b"") -> bool:
    """JSON when the Content-Type says so; protobuf when it says so; else sniff the body."""
    ctype = request.headers.get("content-type", "").lower()
    if "json" in ctype:
        return True
    if "protobuf" in ctype:
        return False
    return raw.lstrip()[:1] == b"{"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def status_bytes(code: int, message: str) -> bytes:
    """A `google.rpc.Status{code, message}` in protobuf wire format (two fields, no dependency)."""
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _error(error: HivelogError, as_json: bool) -> Response:
    code = _GRPC_CODES.get(error.status, 13)
    text = f"{error.message} (at {error.where})" if error.where else error.message
    headers = error.headers()
    if as_json:
        body = {**error.body(), "code": code, "message": text}
        return Response(_encode(body), error.status, headers, media_type=JSON)
    return Response(status_bytes(code, text), error.status, headers, media_type=PROTOBUF)


async def _store(request: Request, converted: Converted, nbytes: int) -> None:
    """Each project named resolved as the REST routes resolve one (`project_name`: a name or
    a project id; with a key, its own project or 403), then stored durably."""

    def resolve(name: str) -> str:
        return project_name(request, name)

    await store_converted(writer(request), resolve, converted, nbytes)


async def traces(request: Request) -> Response:
    """`POST /v1/traces`, `POST /opentelemetry/v1/traces`: spans → events, durable before 200."""
    as_json = _wants_json(request)
    try:
        raw = await read_body(request)
        as_json = _wants_json(request, raw)
        converted = await converters(request).convert(raw, as_json, project_name(request))
        await _store(request, converted, len(raw))
    except HivelogError as error:
        return _error(error, as_json)
    if as_json:
        body: dict[str, object] = {}
        if converted.rejected:
            body["partialSuccess"] = {
                "rejectedSpans": str(converted.rejected),
                "errorMessage": converted.message,
            }
        return Response(_encode(body), media_type=JSON)
    return Response(trace_answer(converted), media_type=PROTOBUF)


async def logs(request: Request) -> Response:
    """`POST /v1/logs`, `POST /opentelemetry/v1/logs`: records folded into their spans' events,
    durable before 200; records without a span context refused in `partial_success`."""
    as_json = _wants_json(request)
    try:
        raw = await read_body(request)
        as_json = _wants_json(request, raw)
        converted = convert_logs(raw, as_json, project_name(request))
        await _store(request, converted, len(raw))
    except HivelogError as error:
        return _error(error, as_json)
    if as_json:
        body: dict[str, object] = {}
        if converted.rejected:
            body["partialSuccess"] = {
                "rejectedLogRecords": str(converted.rejected),
                "errorMessage": converted.message,
            }
        return Response(_encode(body), media_type=JSON)
    return Response(logs_answer(converted), media_type=PROTOBUF)


async def metrics(request: Request) -> Response:
    """`POST /v1/metrics`: accepted, not stored; `partial_success` says how many were refused."""
    as_json = _wants_json(request)
    try:
        raw = await read_body(request)
        as_json = _wants_json(request, raw)
        count = count_json(raw, "metrics") if as_json else count_protobuf(raw, "metrics")
    except HivelogError as error:
        return _error(error, as_json)
    message = (
        f"hivelog stores traces and logs only: {count} metric data points were not stored "
        "(send spans to /v1/traces)"
    )
    if as_json:
        body = {"partialSuccess": {"rejectedDataPoints": str(count), "errorMessage": message}}
        return Response(_encode(body), media_type=JSON)
    answer = ExportMetricsServiceResponse(
        partial_success=ExportMetricsPartialSuccess(
            rejected_data_points=count, error_message=message
        )
    )
    return Response(answer.SerializeToString(), media_type=PROTOBUF)
