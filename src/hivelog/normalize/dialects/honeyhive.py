"""HoneyHive SDK tracers: 1.7.0 (OTLP/JSON) and 0.2.x (traceloop-sdk, protobuf).

Both write the event's own fields as attributes: `honeyhive_event_type`, `honeyhive_event_name`,
and buckets flattened with dots (`honeyhive_inputs.city`, `honeyhive_outputs.result.0`), which
are un-flattened back into nested objects (numeric segments → lists). 0.2.x nests a decorated
function's arguments under `honeyhive_inputs._params_.<arg>`: they are lifted to `inputs.<arg>`
so both SDK generations give the same event. 1.7.0 sends dicts and lists it could not flatten
as their Python `str()`; those are read back as values when they parse as a literal.
"""

from __future__ import annotations

import ast
from typing import Any

from hivelog.event import EVENT_TYPES, Event
from hivelog.normalize.dialects._shared import merge_into, parse_json, pop_prefix, unflatten
from hivelog.wire.otlp import SpanIn

NAME = "honeyhive"
BUCKETS = ("inputs", "outputs", "config", "metadata", "metrics", "feedback", "user_properties")
_LITERAL_LIMIT = 64 * 1024  # longer str()'d values are kept as text


def applies(attrs: dict[str, Any]) -> bool:
    return any(k.startswith("honeyhive") for k in attrs)


def _value(value: Any) -> Any:
    """A str()'d list or dict (1.7.0) → the value; anything else as sent."""
    if not isinstance(value, str) or value[:1] not in ("[", "{") or value[-1:] not in ("]", "}"):
        return value
    parsed = parse_json(value)
    if parsed is not value or len(value) > _LITERAL_LIMIT:
        return parsed
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return value


def _bucket(attrs: dict[str, Any], name: str) -> dict[str, Any]:
    pairs = [(k, _value(v)) for k, v in pop_prefix(attrs, f"{name}.")]
    out = unflatten(pairs) if pairs else {}
    whole = _value(attrs.pop(name, None))
    if isinstance(whole, dict):
        merge_into(out, whole)
    elif whole is not None:
        out.setdefault("value", whole)
    return out


def apply(attrs: dict[str, Any], span: SpanIn, event: Event) -> str | None:
    kind = attrs.pop("honeyhive_event_type", None)
    name = attrs.pop("honeyhive_event_name", None)
    if isinstance(name, str) and name:
        event.event_name = name
    source = attrs.pop("honeyhive_source", None)
    if isinstance(source, str) and source:
        event.source = source
    for bucket in BUCKETS:
        values = _bucket(attrs, f"honeyhive_{bucket}")
        if bucket == "inputs" and isinstance(values.get("_params_"), dict):
            params = values.pop("_params_")
            values = {**params, **values}
        if values:
            target: dict[str, Any] = getattr(event, bucket)
            target.update(values)
    span_config = _bucket(attrs, "honeyhive_span_config")
    if span_config:
        merge_into(event.config, span_config)
    template = _bucket(attrs, "honeyhive_prompt_template")
    if template:
        if "template" in template:
            event.config["template"] = template.pop("template")
        if "prompt" in template:
            event.config["prompt"] = template.pop("prompt")
        if isinstance(template.get("inputs"), dict):
            merge_into(event.inputs, template.pop("inputs"))
        if template:
            event.config["prompt_template"] = template
    user = attrs.pop("honeyhive_user_id", None)
    if user is not None:
        event.user_properties.setdefault("user_id", user)
    for key, target_key in (
        ("honeyhive_session_name", "session_name"),
        ("honeyhive_error_type", "error_type"),
        ("honeyhive_event_id", "client_event_id"),
    ):
        if key in attrs:
            event.metadata[target_key] = attrs.pop(key)
    error = attrs.pop("honeyhive_error", None)
    if error:
        event.error = str(error)
    duration = attrs.pop("honeyhive_duration_ms", None)
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        event.duration = float(duration)

    if isinstance(kind, str) and kind.lower() in EVENT_TYPES:
        return kind.lower()
    if kind is not None:
        event.metadata["honeyhive_event_type"] = kind
    return None
