"""The Vercel AI SDK (`ai` package, `experimental_telemetry`): `ai.*` attributes.

One call makes an outer span (`ai.generateText`, `ai.streamText`, `ai.generateObject`,
`ai.embed`, …) holding one provider-call span per step (`….doGenerate`, `….doStream`,
`….doEmbed`) and one `ai.toolCall` span per executed tool. The provider calls are the model
events; the outer span is a chain with the call's prompt and final answer; tool spans are tool
events. The provider calls also carry `gen_ai.*` names (handled by the genai dialect first);
this module fills in what only the `ai.*` names say and normalises the provider: the SDK's
`openai.chat` / `openai.responses` / `anthropic.messages` name the provider *and* its API,
and only the first part names the provider prices are looked up by.

Messages (`ai.prompt.messages`, JSON) use the SDK's content parts (`text`, `tool-call`,
`tool-result`, `image`, `file`, `reasoning`); they are turned into the `{role, content,
tool_calls}` shape every other model event has. Usage on the outer span is the sum of its
steps, so it is kept as `metadata.usage` there, not as the counted token fields.
"""

from __future__ import annotations

from typing import Any

import msgspec

from hivelog.event import Event
from hivelog.normalize.dialects._shared import (
    first,
    merge_into,
    parse_json,
    parts_message,
    pop_prefix,
    set_tokens,
    tool_call,
    unflatten,
)
from hivelog.wire.otlp import SpanIn

NAME = "vercel"
_encode = msgspec.json.encode
_MODEL_CALLS = (".doGenerate", ".doStream", ".doEmbed", ".doRerank")
_STREAM_EVENTS = frozenset({"ai.stream.firstChunk", "ai.stream.finish"})
_USAGE = {
    "inputTokens": "input_tokens",
    "promptTokens": "input_tokens",
    "outputTokens": "output_tokens",
    "completionTokens": "output_tokens",
    "totalTokens": "total_tokens",
    "tokens": "total_tokens",
    "reasoningTokens": "reasoning_tokens",
    "outputTokenDetails.reasoningTokens": "reasoning_tokens",
    "cachedInputTokens": "cached_tokens",
    "inputTokenDetails.cacheReadTokens": "cached_tokens",
    "inputTokenDetails.cacheWriteTokens": "cache_write_tokens",
}
# derivable from the others (input − cached − cache write, output − reasoning): not stored twice
_DERIVED = frozenset({"inputTokenDetails.noCacheTokens", "outputTokenDetails.textTokens"})


def applies(attrs: dict[str, Any]) -> bool:
    # every span the SDK makes names its operation; a key lookup, not a scan (hot path)
    return "ai.operationId" in attrs


def provider_name(raw: str) -> str:
    """`openai.chat` → `openai`: the SDK suffixes the provider with the API it used."""
    return raw.split(".", 1)[0] if raw else raw


def _text(value: Any) -> str:
    return value if isinstance(value, str) else _encode(value).decode()


def _tool_call(part: dict[str, Any]) -> dict[str, Any]:
    arguments = part.get("input", part.get("args"))
    return tool_call(part.get("toolCallId"), part.get("toolName"), parse_json(arguments))


def _tool_output(part: dict[str, Any]) -> Any:
    """A tool result part's value: `output: {type: json|text, value}` (v5+) or `result`."""
    output = part.get("output", part.get("result"))
    if (
        isinstance(output, dict)
        and "value" in output
        and output.get("type")
        in (
            "json",
            "text",
            "error-text",
            "error-json",
        )
    ):
        return output["value"]
    return output


def _part(part: dict[str, Any], out: dict[str, Any], texts: list[str], calls: list[Any]) -> bool:
    kind = part.get("type")
    if kind == "text" and isinstance(part.get("text"), str):
        texts.append(part["text"])
    elif kind == "tool-call":
        calls.append(_tool_call(part))
    elif kind == "tool-result":
        out["tool_call_id"] = part.get("toolCallId")
        out.setdefault("name", part.get("toolName"))
        texts.append(_text(_tool_output(part)))
    else:
        return False
    return True


def message(raw: Any) -> Any:
    """An SDK message (`content` a string or a list of parts) → `{role, content, tool_calls}`."""
    if not isinstance(raw, dict) or not isinstance(raw.get("content"), list):
        return raw
    return parts_message(raw, "content", _part)


def _prompt_history(prompt: Any) -> list[Any]:
    """`ai.prompt` (`{system, prompt}` or `{system, messages}`) → chat history."""
    if not isinstance(prompt, dict):
        return [{"role": "user", "content": prompt}] if prompt is not None else []
    history: list[Any] = []
    if prompt.get("system") is not None:
        history.append({"role": "system", "content": prompt["system"]})
    if isinstance(prompt.get("messages"), list):
        history.extend(message(m) for m in prompt["messages"])
    if prompt.get("prompt") is not None:
        text = prompt["prompt"]
        history.append({"role": "user", "content": text if isinstance(text, str) else None})
        if not isinstance(text, str):
            history[-1] = message({"role": "user", "content": text})
    return history


def _inputs(attrs: dict[str, Any], event: Event) -> None:
    history: list[Any] = []
    messages = parse_json(attrs.pop("ai.prompt.messages", None))
    if isinstance(messages, list):
        history = [message(m) for m in messages]
    prompt = parse_json(attrs.pop("ai.prompt", None))
    if not history and prompt is not None:
        history = _prompt_history(prompt)
    if history and "chat_history" not in event.inputs:
        event.inputs["chat_history"] = history
    tools = attrs.pop("ai.prompt.tools", None)
    if tools is not None:
        items = tools if isinstance(tools, list) else [tools]
        event.config.setdefault("tools", [parse_json(t) for t in items])
    if "ai.prompt.toolChoice" in attrs:
        event.config["tool_choice"] = parse_json(attrs.pop("ai.prompt.toolChoice"))
    for key, target in (
        ("ai.values", "values"),
        ("ai.value", "value"),
        ("ai.documents", "documents"),
    ):
        if key in attrs:
            value = attrs.pop(key)
            event.inputs[target] = (
                [parse_json(v) for v in value] if isinstance(value, list) else parse_json(value)
            )
    schema = pop_prefix(attrs, "ai.schema")
    for rest, value in schema:
        event.config["schema" + rest.replace(".", "_")] = parse_json(value)


def _outputs(attrs: dict[str, Any], event: Event) -> None:
    outputs: dict[str, Any] = {}
    text = attrs.pop("ai.response.text", None)
    calls = parse_json(attrs.pop("ai.response.toolCalls", None))
    obj = attrs.pop("ai.response.object", None)
    reasoning = attrs.pop("ai.response.reasoning", None)
    finish = attrs.pop("ai.response.finishReason", None)
    if text is not None or calls is not None or obj is not None:
        outputs["role"] = "assistant"
        outputs["content"] = text
    if isinstance(calls, list):
        outputs["tool_calls"] = [_tool_call(c) if isinstance(c, dict) else c for c in calls]
    elif calls is not None:
        outputs["tool_calls"] = calls
    if obj is not None:
        outputs["object"] = parse_json(obj)
    if reasoning is not None:
        outputs["reasoning"] = reasoning
    if finish is not None:
        outputs["finish_reason"] = finish
    for key, target in (
        ("ai.embeddings", "embeddings"),
        ("ai.embedding", "embedding"),
        ("ai.ranking", "ranking"),
    ):
        if key in attrs:
            value = attrs.pop(key)
            outputs[target] = (
                [parse_json(v) for v in value] if isinstance(value, list) else parse_json(value)
            )
    if outputs:
        for key, value in outputs.items():
            event.outputs.setdefault(key, value)


def _usage(attrs: dict[str, Any], event: Event, counted: bool) -> None:
    """Token counts: the counted `metadata.*_tokens` on a provider call; on the outer span
    (the sum of its steps, which are counted themselves) `metadata.usage`."""
    usage: dict[str, Any] = {}
    for rest, value in pop_prefix(attrs, "ai.usage."):
        if rest not in _DERIVED and value is not None:
            usage.setdefault(_USAGE.get(rest, rest), value)
    if not usage:
        return
    if not counted:
        event.metadata["usage"] = unflatten(usage.items())
        return
    metadata = event.metadata
    if "prompt_tokens" not in metadata and "completion_tokens" not in metadata:
        set_tokens(
            event, usage.get("input_tokens"), usage.get("output_tokens"), usage.get("total_tokens")
        )
    for key in ("cached_tokens", "cache_write_tokens", "reasoning_tokens"):
        if usage.get(key):
            metadata.setdefault(key, usage[key])


def _response(attrs: dict[str, Any], event: Event) -> None:
    metadata = event.metadata
    for key, target in (
        ("ai.response.id", "response_id"),
        ("ai.response.timestamp", "response_timestamp"),
        ("ai.response.msToFinish", "ms_to_finish"),
        ("ai.response.avgOutputTokensPerSecond", "output_tokens_per_second"),
        ("ai.telemetry.functionId", "function_id"),
        ("ai.toolCall.id", "tool_call_id"),
    ):
        if key in attrs:
            metadata.setdefault(target, attrs.pop(key))
    response_model = attrs.pop("ai.response.model", None)
    if response_model and response_model != event.config.get("model"):
        metadata.setdefault("response_model", response_model)
    first_chunk = first(attrs, "ai.response.msToFirstChunk", "ai.stream.msToFirstChunk")
    if isinstance(first_chunk, (int, float)) and not isinstance(first_chunk, bool):
        metadata["time_to_first_token"] = first_chunk
    provider_meta = parse_json(attrs.pop("ai.response.providerMetadata", None))
    if provider_meta not in (None, {}) and not (
        isinstance(provider_meta, dict) and all(v in ({}, None) for v in provider_meta.values())
    ):
        metadata["provider_metadata"] = provider_meta
    extra = pop_prefix(attrs, "ai.telemetry.metadata.")
    if extra:
        merge_into(metadata, unflatten(extra))
    headers = pop_prefix(attrs, "ai.request.headers.")
    if headers:
        metadata["request_headers"] = dict(headers)


def apply(attrs: dict[str, Any], span: SpanIn, event: Event) -> str | None:
    operation = attrs.pop("ai.operationId", None) or span.name
    attrs.pop("operation.name", None)  # "<operationId> <functionId>": both kept on their own
    if attrs.get("resource.name") == attrs.get("ai.telemetry.functionId"):
        attrs.pop("resource.name", None)
    is_model = isinstance(operation, str) and operation.endswith(_MODEL_CALLS)
    is_tool = operation == "ai.toolCall"

    model = attrs.pop("ai.model.id", None)
    if model:
        event.config.setdefault("model", model)
    raw_provider = attrs.pop("ai.model.provider", None)
    if isinstance(raw_provider, str) and raw_provider:
        provider = provider_name(raw_provider)
        if event.config.get("provider") in (None, raw_provider):
            event.config["provider"] = provider
        if raw_provider != provider:
            event.metadata["provider_api"] = raw_provider
    settings = pop_prefix(attrs, "ai.settings.")
    if settings:
        event.config.setdefault("hyperparameters", {}).update(unflatten(settings))

    _inputs(attrs, event)
    _outputs(attrs, event)
    _usage(attrs, event, counted=is_model)
    _response(attrs, event)
    if is_tool:
        name = attrs.pop("ai.toolCall.name", None)
        if name:
            event.config["tool_name"] = name
            event.event_name = str(name)
        arguments = parse_json(attrs.pop("ai.toolCall.args", attrs.pop("ai.toolCall.input", None)))
        if isinstance(arguments, dict):
            event.inputs.update(arguments)
        elif arguments is not None:
            event.inputs["arguments"] = arguments
        result = attrs.pop("ai.toolCall.result", attrs.pop("ai.toolCall.output", None))
        if result is not None:
            event.outputs["result"] = parse_json(result)
    if span.events:
        span.events = [e for e in span.events if e.name not in _STREAM_EVENTS]

    if is_model:
        return "model"
    if is_tool:
        return "tool"
    if isinstance(operation, str) and operation.startswith("ai."):
        event.metadata.setdefault("operation", operation)
        return "chain"
    return None
