"""OpenLLMetry / Traceloop: `traceloop.span.kind`, `traceloop.entity.*`, `llm.*` extras.

Recent OpenLLMetry instrumentations send GenAI names (`gen_ai.*`, handled by the genai
dialect) plus a few of their own: `llm.request.type`, `llm.usage.total_tokens`,
`llm.request.functions.N.*`, `llm.is_streaming`; the traceloop-sdk decorators add
`traceloop.span.kind` (workflow/task/agent/tool) and the entity's JSON input and output.
"""

from __future__ import annotations

from typing import Any

import msgspec

from hivelog.event import Event
from hivelog.normalize import tokens
from hivelog.normalize.dialects._shared import as_int, first, indexed, parse_json, pop_prefix
from hivelog.wire.otlp import SpanIn

NAME = "openllmetry"
_decode = msgspec.json.Decoder().decode
KIND_TYPES = {"tool": "tool", "workflow": "chain", "task": "chain", "agent": "chain"}
MODEL_REQUESTS = frozenset({"chat", "completion", "embedding", "rerank"})


def applies(attrs: dict[str, Any]) -> bool:
    return any(k.startswith(("traceloop.", "llm.request.", "llm.usage.", "llm.is_")) for k in attrs)


def _entity_value(value: Any, key: str) -> dict[str, Any]:
    """traceloop-sdk writes `json.dumps(value)`: any JSON, a bare string included."""
    parsed = parse_json(value)
    if parsed is value and isinstance(value, str):
        try:
            parsed = _decode(value)
        except (msgspec.DecodeError, RecursionError):
            parsed = value
    if isinstance(parsed, dict) and key == "input" and set(parsed) == {"args", "kwargs"}:
        # a decorated function's call: its keyword arguments are the inputs
        kwargs = parsed["kwargs"] if isinstance(parsed["kwargs"], dict) else {}
        return {**kwargs, **({"args": parsed["args"]} if parsed["args"] else {})}
    if isinstance(parsed, dict):
        return parsed
    return {key: parsed}


def apply(attrs: dict[str, Any], span: SpanIn, event: Event) -> str | None:
    kind = attrs.pop("traceloop.span.kind", None)
    request_type = attrs.pop("llm.request.type", None)
    if "traceloop.entity.input" in attrs:
        event.inputs.update(_entity_value(attrs.pop("traceloop.entity.input"), "input"))
    if "traceloop.entity.output" in attrs:
        event.outputs.update(_entity_value(attrs.pop("traceloop.entity.output"), "result"))
    total = as_int(attrs.pop("llm.usage.total_tokens", None))
    if total is not None:
        event.metadata.setdefault("total_tokens", total)
    for key in ("llm.usage.prompt_tokens", "llm.usage.completion_tokens"):
        value = as_int(attrs.pop(key, None))
        if value is not None:
            event.metadata.setdefault(key.rsplit(".", 1)[1], value)
    tokens.set_tokens(
        event.metadata,
        cached=first(
            attrs, "gen_ai.usage.cache_read_input_tokens", "llm.usage.cache_read_input_tokens"
        ),
        cache_write=first(
            attrs,
            "gen_ai.usage.cache_creation_input_tokens",
            "llm.usage.cache_creation_input_tokens",
        ),
        reasoning=first(attrs, "gen_ai.usage.reasoning_tokens", "llm.usage.reasoning_tokens"),
        overwrite=False,
    )
    tokens.complete_tokens(event.metadata)
    functions = pop_prefix(attrs, "llm.request.functions.")
    if functions:
        tools = indexed(functions)
        for tool in tools:
            if isinstance(tool, dict) and "parameters" in tool:
                tool["parameters"] = parse_json(tool["parameters"])
        event.config.setdefault("tools", tools)
    if "llm.is_streaming" in attrs:
        event.config.setdefault("hyperparameters", {})["stream"] = attrs.pop("llm.is_streaming")

    if kind in KIND_TYPES:
        return KIND_TYPES[kind]
    if request_type in MODEL_REQUESTS:
        return "model"
    if request_type is not None:
        event.metadata["request_type"] = request_type
    if kind is not None:
        event.metadata["span_kind"] = kind
    return None
