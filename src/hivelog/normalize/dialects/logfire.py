"""Pydantic Logfire and Pydantic AI: `logfire.*`, `pydantic_ai.*` and the agent-run attributes.

Pydantic AI's model calls and tool runs speak the GenAI conventions (the genai dialect maps
them); what is left is Logfire's own bookkeeping and the agent run span (`invoke_agent`):
its whole conversation (`pydantic_ai.all_messages`, GenAI message JSON), its answer
(`final_result`) and usage summed over its calls (`gen_ai.aggregated_usage.*`, kept as
`metadata.usage` so the calls' tokens are not counted twice). A cost Logfire computed
(`operation.cost`) is kept as sent.

Dropped because they restate what is stored elsewhere: `logfire.json_schema` (the types of
the other attributes), `logfire.msg` / `logfire.msg_template` when they equal the span name,
`logfire.span_type`, `logfire.metrics` (token counts the model calls already carry) and the
tool list inside `model_request_parameters` (stored as `config.tools`).
"""

from __future__ import annotations

from typing import Any

from hivelog.event import Event
from hivelog.normalize.dialects import genai
from hivelog.normalize.dialects._shared import messages, parse_json, pop_prefix, unflatten
from hivelog.wire.otlp import SpanIn

NAME = "logfire"
# Logfire marks every span it makes; Pydantic AI's agent runs and model calls have these too.
_MARKERS = frozenset(
    {
        "logfire.msg",
        "logfire.span_type",
        "final_result",
        "pydantic_ai.all_messages",
        "model_request_parameters",
        "operation.cost",
    }
)


def applies(attrs: dict[str, Any]) -> bool:
    return not attrs.keys().isdisjoint(_MARKERS)  # key lookups, not a scan (hot path)


def _bookkeeping(attrs: dict[str, Any], span: SpanIn, event: Event) -> None:
    for key in ("logfire.json_schema", "logfire.span_type", "logfire.metrics"):
        attrs.pop(key, None)
    message = attrs.pop("logfire.msg", None)
    template = attrs.pop("logfire.msg_template", None)
    if message and message != span.name:
        event.metadata["message"] = message
    if template and template not in (span.name, message):
        event.metadata["message_template"] = template
    for rest, value in pop_prefix(attrs, "logfire."):
        event.metadata.setdefault("logfire", {})[rest] = value


def _agent_run(attrs: dict[str, Any], event: Event) -> None:
    conversation = attrs.pop("pydantic_ai.all_messages", None)
    if conversation is not None and "chat_history" not in event.inputs:
        event.inputs["chat_history"] = [genai.message(m) for m in messages(conversation)]
    if "final_result" in attrs:
        result = parse_json(attrs.pop("final_result"))
        if isinstance(result, str):
            event.outputs.update({"role": "assistant", "content": result})
        else:
            event.outputs["result"] = result
    usage = pop_prefix(attrs, "gen_ai.aggregated_usage.")
    if usage:
        event.metadata["usage"] = unflatten(usage)
    model = attrs.pop("model_name", None)
    if model:
        event.config.setdefault("model", model)
    agent = attrs.pop("agent_name", None)
    if agent:
        event.metadata.setdefault("agent_name", agent)


def apply(attrs: dict[str, Any], span: SpanIn, event: Event) -> str | None:
    _bookkeeping(attrs, span, event)
    _agent_run(attrs, event)
    cost = attrs.pop("operation.cost", None)
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        event.metadata.setdefault("cost", float(cost))
    params = parse_json(attrs.pop("model_request_parameters", None))
    if isinstance(params, dict):
        if event.config.get("tools") is not None:
            params.pop("function_tools", None)
        kept = {k: v for k, v in params.items() if v not in (None, [], {}, False)}
        if kept:
            event.config["request_parameters"] = kept
    elif params is not None:
        event.config["request_parameters"] = params
    return None
