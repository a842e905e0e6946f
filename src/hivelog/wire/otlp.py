"""OTLP trace and log bodies (protobuf or JSON) → plain `SpanIn` / `LogIn` records.

Why a record of our own: the protobuf path walks the generated messages directly (going
through `json_format.MessageToDict` costs 5× the time), and the JSON path must be lenient in
ways no generated parser is — ids as hex of any case or base64, enums as names or integers,
int64 as strings or numbers, camelCase or snake_case keys, `parentSpanId` null/empty/absent —
because real exporters (HoneyHive's own OTLP/JSON exporter among them) differ on each. Both
paths end in the same `SpanIn`, so normalisation knows nothing about the encoding.

Ids are lowercase hex; an id that is missing, the wrong length or all zeros becomes "" and
the span is refused later (OTLP `partial_success`), not the whole request.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import math
from typing import Any

import msgspec
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from hivelog.errors import BadInput

SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


@dataclasses.dataclass(slots=True)
class SpanEventIn:
    """A timestamped event inside a span (exceptions, GenAI prompt/completion events)."""

    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclasses.dataclass(slots=True)
class SpanIn:
    """One span with its resource and scope, whatever encoding it arrived in.

    `resource` is shared by every span of one resource: read it, never change it.
    """

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    attributes: dict[str, Any]
    events: list[SpanEventIn]
    resource: dict[str, Any]
    scope: str


@dataclasses.dataclass(slots=True)
class LogIn:
    """One log record with its resource and scope, whatever encoding it arrived in.

    `event_name` is the record's own field (newer SDKs) or its `event.name` attribute (older
    ones), moved out of `attributes`. `time_ns` is the record's time, else its observed time.
    """

    trace_id: str
    span_id: str
    time_ns: int
    severity_number: int
    severity_text: str
    event_name: str
    body: Any
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str


def _log(
    trace_id: str,
    span_id: str,
    time_ns: int,
    severity: tuple[int, str],
    event_name: str,
    body: Any,
    attributes: dict[str, Any],
    resource: dict[str, Any],
    scope: str,
) -> LogIn:
    name = event_name or attributes.get("event.name")
    if isinstance(name, str) and attributes.get("event.name") == name:
        del attributes["event.name"]
    return LogIn(
        trace_id=trace_id,
        span_id=span_id,
        time_ns=time_ns,
        severity_number=severity[0],
        severity_text=severity[1],
        event_name=name if isinstance(name, str) else "",
        body=body,
        attributes=attributes,
        resource=resource,
        scope=scope,
    )


# ---- protobuf -----------------------------------------------------------------------------


def _pb_value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return [_pb_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def _pb_attrs(attributes: Any) -> dict[str, Any]:
    """Attributes → a dict. Most values are strings: a non-empty `string_value` can only be the
    oneof's value, so it is read first, saving the `WhichOneof` call (a tenth of the walk)."""
    out: dict[str, Any] = {}
    for kv in attributes:
        value = kv.value
        text = value.string_value
        if text:
            out[kv.key] = text
            continue
        which = value.WhichOneof("value")
        if which == "string_value":
            out[kv.key] = text
        elif which == "int_value":
            out[kv.key] = value.int_value
        elif which == "double_value":
            out[kv.key] = value.double_value
        elif which == "bool_value":
            out[kv.key] = value.bool_value
        else:
            out[kv.key] = _pb_value(value)
    return out


def _pb_id(raw: bytes, size: int, zero: str) -> str:
    if len(raw) != size:
        return ""
    text = raw.hex()
    return "" if text == zero else text


def decode_protobuf(raw: bytes) -> list[SpanIn]:
    """An `ExportTraceServiceRequest` → spans; 400 when the bytes are not one."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(raw)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise BadInput(f"body is not an OTLP ExportTraceServiceRequest: {exc}", "body") from None
    spans: list[SpanIn] = []
    append = spans.append
    for resource_spans in request.resource_spans:
        resource = _pb_attrs(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for span in scope_spans.spans:
                parent = span.parent_span_id
                status = span.status
                append(
                    SpanIn(
                        trace_id=_pb_id(span.trace_id, 16, _ZERO_TRACE),
                        span_id=_pb_id(span.span_id, 8, _ZERO_SPAN),
                        parent_span_id=_pb_id(parent, 8, _ZERO_SPAN) if parent else "",
                        name=span.name,
                        kind=span.kind,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status_code=status.code,
                        status_message=status.message,
                        attributes=_pb_attrs(span.attributes),
                        events=[
                            SpanEventIn(e.name, e.time_unix_nano, _pb_attrs(e.attributes))
                            for e in span.events
                        ]
                        if span.events
                        else [],
                        resource=resource,
                        scope=scope,
                    )
                )
    return spans


def decode_logs_protobuf(raw: bytes) -> list[LogIn]:
    """An `ExportLogsServiceRequest` → log records; 400 when the bytes are not one."""
    request = ExportLogsServiceRequest()
    try:
        request.ParseFromString(raw)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise BadInput(f"body is not an OTLP ExportLogsServiceRequest: {exc}", "body") from None
    records: list[LogIn] = []
    for resource_logs in request.resource_logs:
        resource = _pb_attrs(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope.name
            for r in scope_logs.log_records:
                records.append(
                    _log(
                        _pb_id(r.trace_id, 16, _ZERO_TRACE),
                        _pb_id(r.span_id, 8, _ZERO_SPAN),
                        r.time_unix_nano or r.observed_time_unix_nano,
                        (r.severity_number, r.severity_text),
                        r.event_name,
                        _pb_value(r.body) if r.HasField("body") else None,
                        _pb_attrs(r.attributes),
                        resource,
                        scope,
                    )
                )
    return records


def count_protobuf(raw: bytes, signal: str) -> int:
    """Log records or metric data points in a protobuf logs/metrics export (for refusals)."""
    if signal == "logs":
        logs = ExportLogsServiceRequest()
        try:
            logs.ParseFromString(raw)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise BadInput(f"body is not an OTLP ExportLogsServiceRequest: {exc}", "body") from None
        return sum(len(scope.log_records) for rl in logs.resource_logs for scope in rl.scope_logs)
    metrics = ExportMetricsServiceRequest()
    try:
        metrics.ParseFromString(raw)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise BadInput(f"body is not an OTLP ExportMetricsServiceRequest: {exc}", "body") from None
    points = 0
    for rm in metrics.resource_metrics:
        for scope in rm.scope_metrics:
            for metric in scope.metrics:
                which = metric.WhichOneof("data")
                if which is not None:
                    points += len(getattr(metric, which).data_points)
    return points


# ---- JSON ---------------------------------------------------------------------------------

_json_decode = msgspec.json.Decoder().decode


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _json_id(value: Any, size: int, zero: str) -> str:
    """Hex of any case, or base64 (the protobuf JSON mapping of bytes); "" when invalid."""
    if not isinstance(value, str) or not value:
        return ""
    if len(value) == size * 2:
        try:
            int(value, 16)
        except ValueError:
            pass
        else:
            text = value.lower()
            return "" if text == zero else text
    try:
        raw = base64.b64decode(
            value + "=" * (-len(value) % 4),
            altchars=b"-_" if ("-" in value or "_" in value) else None,
            validate=True,
        )
    except (binascii.Error, ValueError):
        return ""
    if len(raw) != size:
        return ""
    text = raw.hex()
    return "" if text == zero else text


def _int(value: Any, where: str) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise BadInput("expected an integer, got a boolean", where)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return int(float(value))
            except (ValueError, OverflowError):  # not a number; "Infinity"
                pass
    raise BadInput(f"expected an integer, got {value!r:.60}", where)


_INT64 = 2**63
_UINT64 = 2**64


def _time_ns(value: Any, where: str) -> int:
    """A span time: nanoseconds in the protobuf's fixed64 range, else a 400 naming where."""
    ns = _int(value, where)
    if not 0 <= ns < _UINT64:
        raise BadInput(f"time {ns} ns is outside OTLP's unsigned 64-bit range", where)
    return ns


def _attr_int(value: Any) -> Any:
    """An attribute integer as stored: past int64 (which OTLP allows no more of) a float, or
    past a float's range its digits, so no later stage meets a number it cannot encode."""
    if isinstance(value, int) and not -_INT64 <= value < _INT64:
        try:
            return float(value)
        except OverflowError:
            return str(value)
    return value


def _double(value: Any, where: str) -> Any:
    """A doubleValue: a number, or a string spelling one ("NaN", "Infinity", "1.5")."""
    if isinstance(value, bool):
        raise BadInput("expected a number, got a boolean", where)
    if isinstance(value, (int, str)):
        try:
            return float(value)
        except (ValueError, OverflowError):
            raise BadInput(f"expected a number, got {value!r:.60}", where) from None
    return value


def _enum(value: Any, prefix: str, names: tuple[str, ...], where: str) -> int:
    """An enum as its integer, its full name (`SPAN_KIND_SERVER`) or its short name."""
    if value is None or value == "":
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            return int(text)
        text = text.removeprefix(prefix)
        if text in names:
            return names.index(text)
    raise BadInput(f"unknown enum value {value!r:.60}", where)


_STATUS_NAMES = ("unset", "ok", "error")
_VALUE_KEYS = (
    ("stringValue", "string_value"),
    ("intValue", "int_value"),
    ("doubleValue", "double_value"),
    ("boolValue", "bool_value"),
    ("arrayValue", "array_value"),
    ("kvlistValue", "kvlist_value"),
    ("bytesValue", "bytes_value"),
)


def _json_value(value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        return _attr_int(value)  # a bare JSON scalar or list: take it as sent
    for camel, snake in _VALUE_KEYS:
        if camel in value or snake in value:
            inner = _get(value, camel, snake)
            if camel == "intValue":
                return _attr_int(_int(inner, where))
            if camel == "doubleValue":
                return _double(inner, where)
            if camel == "arrayValue":
                items = (inner or {}).get("values") or []
                return [_json_value(v, f"{where}[{i}]") for i, v in enumerate(items)]
            if camel == "kvlistValue":
                return _json_attrs((inner or {}).get("values"), where)
            return inner
    return None


def _json_attrs(items: Any, where: str) -> dict[str, Any]:
    if not items:
        return {}
    if not isinstance(items, list):
        raise BadInput("attributes must be a list of {key, value}", where)
    out: dict[str, Any] = {}
    for i, kv in enumerate(items):
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise BadInput("an attribute must be an object with a string `key`", f"{where}[{i}]")
        out[kv["key"]] = _json_value(kv.get("value"), f"{where}[{i}].value")
    return out


def _list(obj: dict[str, Any], camel: str, snake: str, where: str) -> list[Any]:
    value = _get(obj, camel, snake)
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadInput(f"`{camel}` must be a list", f"{where}.{camel}")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadInput("expected a JSON object", where)
    return value


def _json_span(span: dict[str, Any], resource: dict[str, Any], scope: str, where: str) -> SpanIn:
    status = _get(span, "status", "status") or {}
    if not isinstance(status, dict):
        status = {}
    events = []
    for k, event in enumerate(_list(span, "events", "events", where)):
        event = _object(event, f"{where}.events[{k}]")
        events.append(
            SpanEventIn(
                name=str(event.get("name") or ""),
                time_ns=_time_ns(
                    _get(event, "timeUnixNano", "time_unix_nano"), f"{where}.events[{k}]"
                ),
                attributes=_json_attrs(event.get("attributes"), f"{where}.events[{k}].attributes"),
            )
        )
    return SpanIn(
        trace_id=_json_id(_get(span, "traceId", "trace_id"), 16, _ZERO_TRACE),
        span_id=_json_id(_get(span, "spanId", "span_id"), 8, _ZERO_SPAN),
        parent_span_id=_json_id(_get(span, "parentSpanId", "parent_span_id"), 8, _ZERO_SPAN),
        name=str(span.get("name") or ""),
        kind=_enum(span.get("kind"), "span_kind_", SPAN_KINDS, f"{where}.kind"),
        start_ns=_time_ns(
            _get(span, "startTimeUnixNano", "start_time_unix_nano"), f"{where}.startTimeUnixNano"
        ),
        end_ns=_time_ns(
            _get(span, "endTimeUnixNano", "end_time_unix_nano"), f"{where}.endTimeUnixNano"
        ),
        status_code=_enum(status.get("code"), "status_code_", _STATUS_NAMES, f"{where}.status"),
        status_message=str(status.get("message") or ""),
        attributes=_json_attrs(span.get("attributes"), f"{where}.attributes"),
        events=events,
        resource=resource,
        scope=scope,
    )


def _top(raw: bytes) -> dict[str, Any]:
    """The top-level object of an OTLP/JSON export; 400 when it is not JSON or not an object."""
    if not raw.strip():
        raise BadInput("request body is empty; expected an OTLP/JSON object", "$")
    try:
        body = _json_decode(raw)
    except msgspec.DecodeError as exc:
        raise BadInput(f"body is not valid JSON: {exc}", "$") from None
    except RecursionError:
        raise BadInput("JSON nested too deeply", "$") from None
    return _object(body, "$")


def decode_json(raw: bytes) -> list[SpanIn]:
    """An OTLP/JSON `ExportTraceServiceRequest` → spans, read leniently; 400 when not JSON."""
    body = _top(raw)
    spans: list[SpanIn] = []
    for i, rs in enumerate(_list(body, "resourceSpans", "resource_spans", "$")):
        where = f"$.resourceSpans[{i}]"
        rs = _object(rs, where)
        res = _get(rs, "resource", "resource") or {}
        resource = _json_attrs(
            _object(res, f"{where}.resource").get("attributes"), f"{where}.resource.attributes"
        )
        for j, ss in enumerate(_list(rs, "scopeSpans", "scope_spans", where)):
            swhere = f"{where}.scopeSpans[{j}]"
            ss = _object(ss, swhere)
            scope_obj = ss.get("scope") or {}
            scope = str(scope_obj.get("name") or "") if isinstance(scope_obj, dict) else ""
            for k, span in enumerate(_list(ss, "spans", "spans", swhere)):
                spwhere = f"{swhere}.spans[{k}]"
                spans.append(_json_span(_object(span, spwhere), resource, scope, spwhere))
    return spans


_SEVERITY_NAMES = (
    "unspecified",
    *(
        f"{level}{n or ''}"
        for level in ("trace", "debug", "info", "warn", "error", "fatal")
        for n in ("", 2, 3, 4)
    ),
)


def _json_log(record: dict[str, Any], resource: dict[str, Any], scope: str, where: str) -> LogIn:
    time_ns = _int(_get(record, "timeUnixNano", "time_unix_nano"), f"{where}.timeUnixNano")
    if not time_ns:
        time_ns = _int(
            _get(record, "observedTimeUnixNano", "observed_time_unix_nano"),
            f"{where}.observedTimeUnixNano",
        )
    severity = _enum(
        _get(record, "severityNumber", "severity_number"),
        "severity_number_",
        _SEVERITY_NAMES,
        f"{where}.severityNumber",
    )
    body = record.get("body")
    return _log(
        _json_id(_get(record, "traceId", "trace_id"), 16, _ZERO_TRACE),
        _json_id(_get(record, "spanId", "span_id"), 8, _ZERO_SPAN),
        time_ns,
        (severity, str(_get(record, "severityText", "severity_text") or "")),
        str(_get(record, "eventName", "event_name") or ""),
        None if body is None else _json_value(body, f"{where}.body"),
        _json_attrs(record.get("attributes"), f"{where}.attributes"),
        resource,
        scope,
    )


def decode_logs_json(raw: bytes) -> list[LogIn]:
    """An OTLP/JSON `ExportLogsServiceRequest` → log records, read as leniently as spans."""
    body = _top(raw)
    records: list[LogIn] = []
    for i, rl in enumerate(_list(body, "resourceLogs", "resource_logs", "$")):
        where = f"$.resourceLogs[{i}]"
        rl = _object(rl, where)
        res = _get(rl, "resource", "resource") or {}
        resource = _json_attrs(
            _object(res, f"{where}.resource").get("attributes"), f"{where}.resource.attributes"
        )
        for j, sl in enumerate(_list(rl, "scopeLogs", "scope_logs", where)):
            swhere = f"{where}.scopeLogs[{j}]"
            sl = _object(sl, swhere)
            scope_obj = sl.get("scope") or {}
            scope = str(scope_obj.get("name") or "") if isinstance(scope_obj, dict) else ""
            for k, record in enumerate(_list(sl, "logRecords", "log_records", swhere)):
                rwhere = f"{swhere}.logRecords[{k}]"
                records.append(_json_log(_object(record, rwhere), resource, scope, rwhere))
    return records


def count_json(raw: bytes, signal: str) -> int:
    """Log records or metric data points in an OTLP/JSON logs/metrics export."""
    try:
        body = _json_decode(raw) if raw.strip() else {}
    except msgspec.DecodeError as exc:
        raise BadInput(f"body is not valid JSON: {exc}", "$") from None
    if not isinstance(body, dict):
        raise BadInput("expected a JSON object", "$")
    count = 0
    if signal == "logs":
        for rl in _list(body, "resourceLogs", "resource_logs", "$"):
            for sl in _list(_object(rl, "$.resourceLogs"), "scopeLogs", "scope_logs", "$"):
                count += len(_list(_object(sl, "$"), "logRecords", "log_records", "$"))
        return count
    for rm in _list(body, "resourceMetrics", "resource_metrics", "$"):
        for sm in _list(_object(rm, "$"), "scopeMetrics", "scope_metrics", "$"):
            for metric in _list(_object(sm, "$"), "metrics", "metrics", "$"):
                for value in _object(metric, "$").values():
                    if isinstance(value, dict) and isinstance(value.get("dataPoints"), list):
                        count += len(value["dataPoints"])
    return count
