"""OpenTelemetry GenAI semantic conventions (`gen_ai.*`), current and deprecated names.

Covers what the official instrumentations (e.g. `opentelemetry-instrumentation-openai-v2`)
and OpenLLMetry ≥ 0.4x send: request/response model, provider (`gen_ai.provider.name`, older
`gen_ai.system`), request parameters, usage (`input_tokens`/`output_tokens`, older
`prompt_tokens`/`completion_tokens`), structured `gen_ai.input.messages` /
`gen_ai.output.messages` (JSON with `parts`), the deprecated flattened `gen_ai.prompt.N.*` /
`gen_ai.completion.N.*`, tool-execution attributes, and the prompt/completion span events.
"""

from __future__ import annotations

from typing import Any

import msgspec

from hivelog.event import Event
from hivelog.normalize.dialects._shared import (
    first,
    indexed,
    messages,
    parse_json,
    parts_message,
    set_tokens,
    tool_call,
)
from hivelog.wire.otlp import SpanEventIn, SpanIn

NAME = "genai"
_encode = msgspec.json.encode
MODEL_OPERATIONS = frozenset(
    {"chat", "text_completion", "generate_content", "embeddings", "embedding", "completion"}
)
TOOL_OPERATIONS = frozenset({"execute_tool"})
# one span event per streamed chunk (OpenLLMetry): collapsed into the output they make
_CHUNK_EVENTS = frozenset({"gen_ai.content.completion.chunk", "llm.content.completion.chunk"})
_MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


def applies(attrs: dict[str, Any]) -> bool:
    return any(k.startswith("gen_ai.") for k in attrs)


def _part(part: dict[str, Any], out: dict[str, Any], texts: list[str], calls: list[Any]) -> bool:
    kind = part.get("type")
    if kind == "text":
        content = part.get("content")
        if isinstance(content, str):
            texts.append(content)
            return True
        # content not recorded (capture off): the message's role is what is known
        return content is None
    if kind == "tool_call":
        calls.append(tool_call(part.get("id"), part.get("name"), part.get("arguments")))
        return True
    if kind == "tool_call_response":
        out["tool_call_id"] = part.get("id")
        response = part.get("response", part.get("result"))  # Pydantic AI: `result`
        if isinstance(response, str):
            texts.append(response)
        elif response is not None:
            texts.append(_encode(response).decode())
        if part.get("name"):
            out.setdefault("name", part["name"])
        return True
    return False


def message(raw: Any) -> Any:
    """A semconv message (`{role, parts: [...]}`) → the `{role, content, tool_calls}` shape."""
    if not isinstance(raw, dict) or "parts" not in raw:
        return raw
    parts = raw["parts"]
    if type(parts) is list and len(parts) == 1:
        text = _only_text(parts[0])
        if text is not None:  # most messages: what `parts_message` makes of them, made directly
            out = dict(raw)
            del out["parts"]
            out["content"] = text
            return out
    return parts_message(raw, "parts", _part)


def _only_text(part: Any) -> str | None:
    """The text of a text part that carries nothing else `_part` would keep, else None."""
    if type(part) is dict and part.get("type") == "text":
        content = part.get("content")
        if isinstance(content, str):
            return content
    return None


def output_fields(items: list[Any]) -> dict[str, Any]:
    """Output messages → `outputs`: the first message, and `choices` when there are several."""
    if not items:
        return {}
    converted = [message(m) for m in items]
    head = converted[0]
    outputs = dict(head) if isinstance(head, dict) else {"content": head}
    if len(converted) > 1:
        outputs["choices"] = converted
    return outputs


def _outputs(event: Event, items: list[Any]) -> None:
    event.outputs.update(output_fields(items))


def _choice(a: dict[str, Any]) -> dict[str, Any]:
    body = parse_json(a.get("message", a.get("gen_ai.event.content")))
    reason = a.get("finish_reason")
    if isinstance(body, dict) and isinstance(body.get("message"), dict):  # the whole choice
        reason = body.get("finish_reason", reason)
        body = body["message"]
    outputs = dict(body) if isinstance(body, dict) else {"content": body}
    if reason is not None:
        outputs["finish_reason"] = reason
    return outputs


def event_messages(name: str, a: dict[str, Any]) -> tuple[list[Any], list[Any]] | None:
    """The chat history and output messages one GenAI event carries, or None when `name` is
    not a GenAI message event. A span event passes its attributes; a log record passes its
    attributes with its body under `gen_ai.event.content` (see `normalize.logs`)."""
    if name == "gen_ai.content.prompt":
        return (messages(a["gen_ai.prompt"]) if "gen_ai.prompt" in a else []), []
    if name == "gen_ai.content.completion":
        return [], (messages(a["gen_ai.completion"]) if "gen_ai.completion" in a else [])
    if name in _MESSAGE_EVENTS:
        content = parse_json(a.get("content", a.get("gen_ai.event.content")))
        found = dict(content) if isinstance(content, dict) else {"content": content}
        found.setdefault("role", a.get("role") or _MESSAGE_EVENTS[name])
        return [found], []
    if name == "gen_ai.choice":
        return [], [_choice(a)]
    if name == "gen_ai.client.inference.operation.details":
        history: list[Any] = []
        if "gen_ai.system_instructions" in a:
            history.append(_system(a["gen_ai.system_instructions"]))
        if "gen_ai.input.messages" in a:
            history.extend(message(m) for m in messages(a["gen_ai.input.messages"]))
        outputs = messages(a["gen_ai.output.messages"]) if "gen_ai.output.messages" in a else []
        return history, outputs
    return None


def _system(raw: Any) -> Any:
    system = parse_json(raw)
    if isinstance(system, list):
        system = message({"role": "system", "parts": system})
    return system if isinstance(system, dict) else {"role": "system", "content": system}


def _span_events(span: SpanIn, event: Event) -> None:
    kept: list[SpanEventIn] = []
    history: list[Any] = []
    chunks: list[SpanEventIn] = []
    for item in span.events:
        if item.name in _CHUNK_EVENTS:
            chunks.append(item)
            continue
        found = event_messages(item.name, item.attributes)
        if found is None:
            kept.append(item)
            continue
        said, answered = found
        history.extend(said)
        if answered and not event.outputs:
            if item.name == "gen_ai.choice":
                event.outputs.update(answered[0])
            else:
                _outputs(event, answered)
    if history and "chat_history" not in event.inputs:
        event.inputs["chat_history"] = history
    if chunks:
        _chunks(chunks, span, event)
    span.events = kept


def _chunks(chunks: list[SpanEventIn], span: SpanIn, event: Event) -> None:
    """Streamed chunks (one span event each) → the one output they make, and the time to
    the first one; the output is already on the span when the instrumentation set it."""
    first_ns = min(c.time_ns for c in chunks)
    if first_ns >= span.start_ns:
        event.metadata.setdefault("time_to_first_token", (first_ns - span.start_ns) / 1e6)
    if not event.outputs:
        ordered = sorted(chunks, key=lambda c: c.time_ns)
        pieces = [
            c.attributes.get("gen_ai.completion.chunk", c.attributes.get("content"))
            for c in ordered
        ]
        text = "".join(str(p) for p in pieces if p is not None)
        if text:
            event.outputs.update({"role": "assistant", "content": text})


# Token breakdowns: the GenAI conventions' names, then OpenLLMetry's and Pydantic AI's.
CACHE_READ = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.details.cache_read_tokens",
)
CACHE_WRITE = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.details.cache_write_tokens",
)
REASONING = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "gen_ai.usage.details.reasoning_tokens",
)


_DETAIL_KEYS = frozenset(CACHE_READ + CACHE_WRITE + REASONING)
_REQUEST, _PROMPT, _COMPLETION = "gen_ai.request.", "gen_ai.prompt.", "gen_ai.completion."
_GROUPS = (_REQUEST, _PROMPT, _COMPLETION)


def _grouped(
    attrs: dict[str, Any],
) -> tuple[dict[str, Any], list[tuple[str, Any]], list[tuple[str, Any]]]:
    """Request parameters and the flattened prompt and completion, popped in one scan of the
    attributes (they were three)."""
    hyper: dict[str, Any] = {}
    prompt: list[tuple[str, Any]] = []
    completion: list[tuple[str, Any]] = []
    for key in [k for k in attrs if k.startswith(_GROUPS)]:
        value = attrs.pop(key)
        if key.startswith(_REQUEST):
            hyper[key[len(_REQUEST) :]] = value
        elif key.startswith(_PROMPT):
            prompt.append((key[len(_PROMPT) :], value))
        else:
            completion.append((key[len(_COMPLETION) :], value))
    return hyper, prompt, completion


def apply(attrs: dict[str, Any], span: SpanIn, event: Event) -> str | None:
    operation = attrs.pop("gen_ai.operation.name", None)
    request_model = attrs.pop("gen_ai.request.model", None)
    response_model = attrs.pop("gen_ai.response.model", None)
    model = request_model or response_model
    if model:
        event.config["model"] = model
    if response_model and response_model != model:
        event.metadata["response_model"] = response_model
    provider = first(attrs, "gen_ai.provider.name", "gen_ai.system")
    if provider:
        event.config["provider"] = provider
    hyper, flat_prompt, flat_completion = _grouped(attrs)
    if hyper:
        event.config.setdefault("hyperparameters", {}).update(hyper)
    prompt = first(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
    completion = first(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
    if attrs.keys().isdisjoint(_DETAIL_KEYS):  # the usual case: no breakdown sent
        set_tokens(event, prompt, completion, attrs.pop("gen_ai.usage.total_tokens", None))
    else:
        set_tokens(
            event,
            prompt,
            completion,
            attrs.pop("gen_ai.usage.total_tokens", None),
            cached=first(attrs, *CACHE_READ),
            cache_write=first(attrs, *CACHE_WRITE),
            reasoning=first(attrs, *REASONING),
        )
    for key, target in (
        ("gen_ai.response.id", "response_id"),
        ("gen_ai.response.finish_reasons", "finish_reasons"),
        ("gen_ai.tool.call.id", "tool_call_id"),
        ("gen_ai.agent.name", "agent_name"),
        ("gen_ai.agent.id", "agent_id"),
        ("gen_ai.agent.call.id", "agent_call_id"),
    ):
        if key in attrs:
            event.metadata[target] = attrs.pop(key)
    first_chunk = attrs.pop("gen_ai.client.operation.time_to_first_chunk", None)  # seconds
    if isinstance(first_chunk, (int, float)) and not isinstance(first_chunk, bool):
        event.metadata["time_to_first_token"] = first_chunk * 1000

    # messages: structured (current), flattened (deprecated), whole-prompt JSON (older still)
    history: list[Any] = []
    if "gen_ai.system_instructions" in attrs:
        history.append(_system(attrs.pop("gen_ai.system_instructions")))
    if "gen_ai.input.messages" in attrs:
        history.extend(message(m) for m in messages(attrs.pop("gen_ai.input.messages")))
    if flat_prompt:
        history.extend(indexed(flat_prompt))
    if "gen_ai.prompt" in attrs:
        history.extend(messages(attrs.pop("gen_ai.prompt")))
    if history:
        event.inputs["chat_history"] = history
    if "gen_ai.output.messages" in attrs:
        _outputs(event, messages(attrs.pop("gen_ai.output.messages")))
    if flat_completion:
        _outputs(event, indexed(flat_completion))
    if "gen_ai.completion" in attrs:
        _outputs(event, messages(attrs.pop("gen_ai.completion")))

    # tools: definitions offered to a model, and the execution of one
    if "gen_ai.tool.definitions" in attrs:
        event.config["tools"] = parse_json(attrs.pop("gen_ai.tool.definitions"))
    for key, target in (
        ("gen_ai.tool.name", "tool_name"),
        ("gen_ai.tool.description", "tool_description"),
        ("gen_ai.tool.type", "tool_type"),
    ):
        if key in attrs:
            event.config[target] = attrs.pop(key)
    if "gen_ai.tool.call.arguments" in attrs:
        arguments = parse_json(attrs.pop("gen_ai.tool.call.arguments"))
        if isinstance(arguments, dict):
            event.inputs.update(arguments)
        else:
            event.inputs["arguments"] = arguments
    if "gen_ai.tool.call.result" in attrs:
        event.outputs["result"] = parse_json(attrs.pop("gen_ai.tool.call.result"))
    if span.events:
        _span_events(span, event)

    if operation in MODEL_OPERATIONS:
        return "model"
    if operation in TOOL_OPERATIONS:
        return "tool"
    if operation is None and model:
        return "model"
    if operation is not None:
        event.metadata["operation"] = operation
    return None
