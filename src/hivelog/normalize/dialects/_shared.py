"""Helpers every attribute dialect uses: un-flattening, JSON-in-a-string, tokens.

Each dialect module (honeyhive, genai, openinference, openllmetry) has the same interface:

    applies(attrs) -> bool           cheap test: does this span carry the dialect's attributes?
    apply(attrs, span, event) -> str | None
                                      move the attributes it understands from `attrs` (popping
                                      them) into `event`; return the event type the span implies
                                      ("model", "tool", "chain"), if any

What a dialect leaves in `attrs` is kept by the caller in `metadata`, so nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from hivelog.event import Event
from hivelog.normalize import tokens

_decode = msgspec.json.Decoder().decode
_MAX_LIST_GAP = 64  # a sparse numeric key like `x.100000` stays a dict, not a huge list
# A dotted key nests at most this deep; the rest of a longer key stays one flat key at the
# bottom (`a.b.….z`), so no attribute name can build a structure deeper than ingest stores.
MAX_KEY_SEGMENTS = 32


def pop_prefix(attrs: dict[str, Any], prefix: str) -> list[tuple[str, Any]]:
    """Remove and return `(rest, value)` for every key starting with `prefix`."""
    found = [(k, v) for k, v in attrs.items() if k.startswith(prefix)]
    for key, _ in found:
        del attrs[key]
    n = len(prefix)
    return [(k[n:], v) for k, v in found]


def _set_path(root: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".", MAX_KEY_SEGMENTS - 1)
    node = root
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            node[".".join(parts[i:])] = value  # a leaf is in the way: keep the rest flat
            return
        node = child
    last = parts[-1]
    if isinstance(node.get(last), dict):
        node[last][""] = value
    else:
        node[last] = value


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    for key, child in node.items():
        if isinstance(child, dict):
            node[key] = _listify(child)
    if node and all(k.isdigit() for k in node):
        top = max(int(k) for k in node)
        if top < len(node) + _MAX_LIST_GAP:
            out: list[Any] = [None] * (top + 1)
            for k, v in node.items():
                out[int(k)] = v
            return out
    return node


def unflatten_any(pairs: Iterable[tuple[str, Any]]) -> Any:
    """Like `unflatten`, but all-numeric top-level keys give a list."""
    root: dict[str, Any] = {}
    for key, value in sorted(pairs, key=lambda kv: kv[0]):
        if key:
            _set_path(root, key, value)
    return _listify(root)


def indexed(pairs: Iterable[tuple[str, Any]]) -> list[Any]:
    """`0.role=user, 0.content=hi, 1.role=…` → `[{role, content}, …]` in index order."""
    nested = unflatten_any(pairs)
    if isinstance(nested, list):
        return [item for item in nested if item is not None]
    return list(nested.values())


def unflatten(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Dotted keys → nested objects; objects whose keys are all numbers become lists.

    `a.b=1, a.c.0=x, a.c.1=y` → `{"a": {"b": 1, "c": ["x", "y"]}}`. A key that is both a
    value and a prefix (`a=1, a.b=2`) keeps the longer one flat (`{"a": 1, "a.b": 2}`).
    """
    out = unflatten_any(pairs)
    return out if isinstance(out, dict) else {"value": out}


def parse_json(value: Any) -> Any:
    """A JSON object or array sent as a string (common in OTLP attributes) → its value."""
    if isinstance(value, str) and value[:1] in ("{", "[") and value[-1:] in ("}", "]"):
        try:
            return _decode(value)
        except (msgspec.DecodeError, RecursionError):
            return value
    return value


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def set_tokens(
    event: Event,
    prompt: Any,
    completion: Any,
    total: Any = None,
    *,
    cached: Any = None,
    cache_write: Any = None,
    reasoning: Any = None,
) -> None:
    """metadata.prompt_tokens / completion_tokens / total_tokens and the breakdown
    (cached_tokens, cache_write_tokens, reasoning_tokens), as the REST routes store them."""
    tokens.set_tokens(
        event.metadata,
        prompt=prompt,
        completion=completion,
        total=total,
        cached=cached,
        cache_write=cache_write,
        reasoning=reasoning,
    )
    tokens.complete_tokens(event.metadata)


def first(attrs: dict[str, Any], *keys: str) -> Any:
    """Pop every key given; return the first non-empty value among them."""
    found = None
    for key in keys:
        value = attrs.pop(key, None)
        if found is None and value is not None and value != "":
            found = value
    return found


def merge_into(target: dict[str, Any], extra: dict[str, Any]) -> None:
    """Deep-merge `extra` into `target` without overwriting what is already there."""
    for key, value in extra.items():
        have = target.get(key)
        if have is None:
            target[key] = value
        elif isinstance(have, dict) and isinstance(value, dict):
            merge_into(have, value)
        elif have != value:
            target[f"{key}_attribute"] = value


def messages(items: Any) -> list[Any]:
    """A list of chat messages from what a dialect sent (list, JSON string, one object)."""
    items = parse_json(items)
    if isinstance(items, dict):
        return [items]
    return list(items) if isinstance(items, list) else []


# Reads one content part of a message into the message being built (`out`), its texts or its
# tool calls; False for a part it does not know (kept whole in the message's `parts`).
PartReader = Callable[[dict[str, Any], dict[str, Any], list[str], list[Any]], bool]


def parts_message(raw: dict[str, Any], key: str, read: PartReader) -> dict[str, Any]:
    """A message whose `key` holds content parts (GenAI `parts`, the Vercel AI SDK's
    `content`) → the `{role, content, tool_calls}` shape every model event's messages have:
    the texts joined, tool calls as OpenAI's, unknown parts kept in `parts`. Each dialect
    says only how to read its own parts (`read`)."""
    out = dict(raw)
    parts = out.pop(key)
    texts: list[str] = []
    calls: list[Any] = []
    other: list[Any] = []
    for part in parts or ():
        if not (isinstance(part, dict) and read(part, out, texts, calls)):
            other.append(part)
    out["content"] = "".join(texts) if texts else None
    if calls:
        out["tool_calls"] = calls
    if other:
        out["parts"] = other
    return out


def tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    """A tool call as OpenAI's chat API writes it (the shape stored for every dialect)."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
