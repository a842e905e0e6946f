"""OpenInference (Phoenix instrumentations): `openinference.span.kind`, `llm.*`, `input.value`.

Flattened lists arrive as `llm.input_messages.0.message.role`; each list item wraps its
object in a single key (`message`, `tool_call`, `message_content`, `document`, `embedding`,
`tool`), which is unwrapped so messages look like every other model event's.
"""

from __future__ import annotations

from typing import Any

from hivelog.event import Event
from hivelog.normalize.dialects._shared import (
    first,
    indexed,
    merge_into,
    parse_json,
    pop_prefix,
    set_tokens,
)
from hivelog.wire.otlp import SpanIn

NAME = "openinference"
KIND_TYPES = {"LLM": "model", "EMBEDDING": "model", "TOOL": "tool", "RETRIEVER": "tool"}
_WRAPPERS = frozenset({"message", "tool_call", "message_content", "document", "embedding", "tool"})
_FIRST_TOKEN = "First Token Stream Event"
_MARKERS = ("openinference.span.kind", "llm.model_name", "input.value", "output.value")


def applies(attrs: dict[str, Any]) -> bool:
    return any(k in attrs for k in _MARKERS) or any(
        k.startswith(("llm.input_messages.", "llm.output_messages.", "llm.token_count."))
        for k in attrs
    )


def _unwrap(value: Any) -> Any:
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key in _WRAPPERS and isinstance(inner, dict):
                return _unwrap(inner)
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _list(attrs: dict[str, Any], prefix: str) -> list[Any]:
    pairs = pop_prefix(attrs, prefix)
    return _unwrap(indexed(pairs)) if pairs else []


def _messages(attrs: dict[str, Any], prefix: str) -> list[Any]:
    out = _list(attrs, prefix)
    for message in out:
        if isinstance(message, dict):
            for call in message.get("tool_calls") or []:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and "arguments" in function:
                    function["arguments"] = parse_json(function["arguments"])
    return out


def _first_token(span: SpanIn, event: Event) -> None:
    """The `First Token Stream Event` of a streamed call → `metadata.time_to_first_token`."""
    for item in span.events:
        if item.name == _FIRST_TOKEN and item.time_ns >= span.start_ns:
            event.metadata["time_to_first_token"] = (item.time_ns - span.start_ns) / 1e6
            span.events = [e for e in span.events if e.name != _FIRST_TOKEN]
            return


def apply(attrs: dict[str, Any], span: SpanIn, event: Event) -> str | None:
    kind = attrs.pop("openinference.span.kind", None)
    kind = kind.upper() if isinstance(kind, str) else None
    model = first(attrs, "llm.model_name", "embedding.model_name")
    if model:
        event.config["model"] = model
    provider = attrs.pop("llm.provider", None)
    system = attrs.pop("llm.system", None)
    if provider or system:
        event.config["provider"] = provider or system
    if provider and system and provider != system:
        event.config["system"] = system
    params = parse_json(
        first(attrs, "llm.invocation_parameters", "embedding.invocation_parameters")
    )
    if isinstance(params, dict):
        hyper = {k: v for k, v in params.items() if k != "model"}
        if hyper:
            event.config.setdefault("hyperparameters", {}).update(hyper)
    elif params is not None:
        event.config["invocation_parameters"] = params
    set_tokens(
        event,
        attrs.pop("llm.token_count.prompt", None),
        attrs.pop("llm.token_count.completion", None),
        attrs.pop("llm.token_count.total", None),
        cached=attrs.pop("llm.token_count.prompt_details.cache_read", None),
        cache_write=attrs.pop("llm.token_count.prompt_details.cache_write", None),
        reasoning=attrs.pop("llm.token_count.completion_details.reasoning", None),
    )

    history = _messages(attrs, "llm.input_messages.")
    if history:
        event.inputs["chat_history"] = history
    prompts = _list(attrs, "llm.prompts.")
    if prompts:
        event.inputs["prompts"] = prompts
    outputs = _messages(attrs, "llm.output_messages.")
    if outputs:
        head = outputs[0]
        event.outputs.update(head if isinstance(head, dict) else {"content": head})
        if len(outputs) > 1:
            event.outputs["choices"] = outputs
    if "llm.finish_reason" in attrs:
        event.metadata["finish_reason"] = attrs.pop("llm.finish_reason")
    tools = _list(attrs, "llm.tools.")
    if tools:
        event.config["tools"] = [
            parse_json(t.get("json_schema")) if isinstance(t, dict) and len(t) == 1 else t
            for t in tools
        ]

    # template, plain input/output values, retrieval and embedding results
    if "llm.prompt_template.template" in attrs:
        event.config["template"] = attrs.pop("llm.prompt_template.template")
    if "llm.prompt_template.version" in attrs:
        event.config["template_version"] = attrs.pop("llm.prompt_template.version")
    variables = parse_json(attrs.pop("llm.prompt_template.variables", None))
    if isinstance(variables, dict):
        event.inputs.update({k: v for k, v in variables.items() if k not in event.inputs})
    elif variables is not None:
        event.inputs["template_variables"] = variables
    # The raw request and response: kept only when no messages were mapped from them, so
    # a model call's prompt and answer are stored once (as chat_history and outputs).
    if "input.value" in attrs:
        attrs.pop("input.mime_type", None)
        raw_input = attrs.pop("input.value")
        if not history and not prompts:
            event.inputs["input"] = parse_json(raw_input)
    if "output.value" in attrs:
        attrs.pop("output.mime_type", None)
        raw_output = attrs.pop("output.value")
        if not outputs:
            event.outputs["output"] = parse_json(raw_output)
    documents = _list(attrs, "retrieval.documents.")
    if documents:
        event.outputs["documents"] = documents
    embeddings = _list(attrs, "embedding.embeddings.")
    if embeddings:
        event.outputs["embeddings"] = embeddings
    for key, target in (
        ("tool.name", "tool_name"),
        ("tool.description", "tool_description"),
        ("tool.parameters", "tool_parameters"),
    ):
        if key in attrs:
            event.config[target] = parse_json(attrs.pop(key))
    extra = parse_json(attrs.pop("metadata", None))
    if isinstance(extra, dict):
        merge_into(event.metadata, extra)
    elif extra is not None:
        event.metadata["metadata"] = extra
    if "tag.tags" in attrs:
        event.metadata["tags"] = attrs.pop("tag.tags")
    if span.events:
        _first_token(span, event)

    if kind is None:
        return "model" if model else None
    if kind not in KIND_TYPES:
        event.metadata["span_kind"] = kind.lower()
    return KIND_TYPES.get(kind, "chain")
