"""Langfuse SDK tracing (v3 and later, built on OpenTelemetry): `langfuse.*` attributes.

Every span is an *observation* whose type says what it is (`generation` and `embedding` are
model calls; `tool` and `retriever` are tools; `span`, `agent`, `chain`, `event`, `evaluator`,
`guardrail` are chains). Input and output are JSON in one attribute each; for a generation the
input is the chat messages (or `{messages, tools, …}`) and the output the assistant message or
its text. Usage and cost details are JSON objects; metadata comes flattened one key per
attribute with each value JSON-encoded (`langfuse.observation.metadata.tenant = "\"acme\""`).
Trace-level attributes (name, tags, metadata, environment) are propagated to every span; the
session and user ids are the plain `session.id` / `user.id`, read by the shared OTLP code.
"""

from __future__ import annotations

import datetime
from typing import Any

import msgspec

from hivelog.event import Event
from hivelog.normalize.dialects._shared import (
    as_int,
    first,
    merge_into,
    parse_json,
    pop_prefix,
    set_tokens,
    unflatten,
)
from hivelog.wire.otlp import SpanIn

NAME = "langfuse"
_decode = msgspec.json.Decoder().decode
_OBS = "langfuse.observation."
_TYPES = {
    "generation": "model",
    "embedding": "model",
    "tool": "tool",
    "retriever": "tool",
}
_INPUT_TOKENS = ("input", "prompt_tokens", "input_tokens", "promptTokens")
_OUTPUT_TOKENS = ("output", "completion_tokens", "output_tokens", "completionTokens")
_TOTAL_TOKENS = ("total", "total_tokens", "totalTokens")
_CACHED_TOKENS = ("input_cached_tokens", "cache_read_input_tokens", "input_cache_read")
_CACHE_WRITE_TOKENS = ("cache_creation_input_tokens", "input_cache_creation")
_REASONING_TOKENS = ("output_reasoning_tokens", "output_reasoning")
_NOT_GIVEN = "Infinity"  # what the SDK's OpenAI integration writes for an unset parameter


# Every observation has a type; spans of other instrumentations inside
# `propagate_attributes` carry the trace-level ones. Key lookups, not a scan (hot path).
_MARKERS = frozenset(
    {
        "langfuse.observation.type",
        "langfuse.trace.name",
        "langfuse.trace.tags",
        "langfuse.environment",
        "langfuse.internal.is_app_root",
    }
)


def applies(attrs: dict[str, Any]) -> bool:
    return not attrs.keys().isdisjoint(_MARKERS)


def _metadata_values(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`key → JSON-encoded value` (SDK v3+ encodes each value) → nested metadata."""
    return unflatten((key, parse_json_value(value)) for key, value in pairs)


def parse_json_value(value: Any) -> Any:
    """Any JSON text (a quoted string, a number, true/false/null included) → its value; text
    that is not JSON (older SDKs wrote metadata strings bare) as sent."""
    if not isinstance(value, str):
        return value
    try:
        return _decode(value)
    except (msgspec.DecodeError, RecursionError):
        return value


def _tool_calls(calls: Any) -> Any:
    if isinstance(calls, list):
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and "arguments" in function:
                function["arguments"] = parse_json(function["arguments"])
    return calls


def _generation_input(value: Any, event: Event) -> None:
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        rest = dict(value)
        history = rest.pop("messages")
        if "tools" in rest:
            event.config.setdefault("tools", rest.pop("tools"))
        if rest:
            event.inputs.update(rest)
        value = history
    if isinstance(value, list):
        for message in value:
            if isinstance(message, dict):
                _tool_calls(message.get("tool_calls"))
        event.inputs["chat_history"] = value
    elif isinstance(value, str):
        event.inputs["chat_history"] = [{"role": "user", "content": value}]
    elif value is not None:
        event.inputs["input"] = value


def _generation_output(value: Any, event: Event) -> None:
    if isinstance(value, dict) and ("content" in value or "tool_calls" in value):
        out = dict(value)
        _tool_calls(out.get("tool_calls"))
        event.outputs.update(out)
    elif isinstance(value, str):
        event.outputs.update({"role": "assistant", "content": value})
    elif value is not None:
        event.outputs["output"] = value


def _observed_input(value: Any, event: Event) -> None:
    """`@observe` records a function's `{args, kwargs}`: the keyword arguments are the inputs."""
    if isinstance(value, dict) and set(value) <= {"args", "kwargs"}:
        kwargs = value.get("kwargs")
        if isinstance(kwargs, dict):
            event.inputs.update(kwargs)
        if value.get("args"):
            event.inputs["args"] = value["args"]
    elif isinstance(value, dict):
        event.inputs.update(value)
    elif value is not None:
        event.inputs["input"] = value


def _observed_output(value: Any, event: Event) -> None:
    if isinstance(value, dict):
        event.outputs.update(value)
    elif value is not None:
        event.outputs["result"] = value


def _usage(value: Any, event: Event) -> None:
    if not isinstance(value, dict):
        if value is not None:
            event.metadata["usage_details"] = value
        return
    usage = {k: v for k, v in value.items() if v is not None}

    def take(keys: tuple[str, ...]) -> Any:
        found = None
        for key in keys:
            if key in usage:
                v = usage.pop(key)
                found = v if found is None else found
        return found

    set_tokens(event, take(_INPUT_TOKENS), take(_OUTPUT_TOKENS), take(_TOTAL_TOKENS))
    for keys, target in (
        (_CACHED_TOKENS, "cached_tokens"),
        (_CACHE_WRITE_TOKENS, "cache_write_tokens"),
        (_REASONING_TOKENS, "reasoning_tokens"),
    ):
        count = as_int(take(keys))
        if count:
            event.metadata[target] = count
    if usage:
        event.metadata["usage_details"] = usage


def _cost(value: Any, event: Event) -> None:
    """A cost the SDK sent is kept as sent: `total`, else the sum of its parts."""
    if not isinstance(value, dict):
        return
    numbers = {
        k: v for k, v in value.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    total = numbers.get("total", sum(numbers.values()) if numbers else None)
    if total is not None:
        event.metadata["cost"] = float(total)
    if value:
        event.metadata["cost_details"] = value


def _iso_ns(value: Any) -> int | None:
    text = parse_json_value(value)
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp() * 1e9)


def _trace_level(attrs: dict[str, Any], event: Event) -> None:
    metadata = event.metadata
    name = attrs.pop("langfuse.trace.name", None)
    if name:
        metadata["session_name"] = name
    tags = parse_json(attrs.pop("langfuse.trace.tags", None))
    if tags:
        metadata["tags"] = tags
    trace_meta = pop_prefix(attrs, "langfuse.trace.metadata.")
    if trace_meta:
        merge_into(metadata, _metadata_values(trace_meta))
    whole = parse_json_value(attrs.pop("langfuse.trace.metadata", None))
    if isinstance(whole, dict):
        merge_into(metadata, whole)
    elif whole is not None:
        metadata["trace_metadata"] = whole
    environment = attrs.pop("langfuse.environment", None)
    if isinstance(environment, str) and environment and event.source == "unknown":
        event.source = environment
    elif environment:
        metadata["environment"] = environment
    for key, target in (
        ("langfuse.release", "release"),
        ("langfuse.version", "version"),
        ("langfuse.trace.public", "trace_public"),
    ):
        if key in attrs:
            metadata[target] = attrs.pop(key)
    pop_prefix(attrs, "langfuse.internal.")  # the SDK's own bookkeeping (root markers)


def apply(attrs: dict[str, Any], span: SpanIn, event: Event) -> str | None:
    kind = attrs.pop(_OBS + "type", None)
    kind = kind.lower() if isinstance(kind, str) else None
    is_model = _TYPES.get(kind or "") == "model"
    model = attrs.pop(_OBS + "model.name", None)
    if model:
        event.config.setdefault("model", model)
    params = parse_json(attrs.pop(_OBS + "model.parameters", None))
    if isinstance(params, dict):
        hyper = {k: v for k, v in params.items() if v != _NOT_GIVEN}
        if hyper:
            event.config.setdefault("hyperparameters", {}).update(hyper)

    raw_input = parse_json(attrs.pop(_OBS + "input", None))
    raw_output = parse_json(attrs.pop(_OBS + "output", None))
    if is_model:
        _generation_input(raw_input, event)
        _generation_output(raw_output, event)
    else:
        _observed_input(raw_input, event)
        _observed_output(raw_output, event)
    _usage(parse_json(attrs.pop(_OBS + "usage_details", None)), event)
    _cost(parse_json(attrs.pop(_OBS + "cost_details", None)), event)
    started = _iso_ns(attrs.pop(_OBS + "completion_start_time", None))
    if started is not None and started >= span.start_ns:
        event.metadata["time_to_first_token"] = (started - span.start_ns) / 1e6

    observation_meta = pop_prefix(attrs, _OBS + "metadata.")
    if observation_meta:
        merge_into(event.metadata, _metadata_values(observation_meta))
    whole = parse_json_value(attrs.pop(_OBS + "metadata", None))
    if isinstance(whole, dict):
        merge_into(event.metadata, whole)
    elif whole is not None:
        event.metadata["observation_metadata"] = whole
    level = attrs.pop(_OBS + "level", None)
    message = first(attrs, _OBS + "status_message")
    if level:
        event.metadata["level"] = level
    if level == "ERROR" and message:
        event.error = str(message)
    elif message:
        event.metadata["status_message"] = message
    for key, target in (
        (_OBS + "prompt.name", "prompt_name"),
        (_OBS + "prompt.version", "prompt_version"),
    ):
        if key in attrs:
            event.config[target] = attrs.pop(key)
    _trace_level(attrs, event)

    if kind is None:
        return None
    if kind not in _TYPES and kind != "span":
        event.metadata["observation_type"] = kind
    return _TYPES.get(kind, "chain")
