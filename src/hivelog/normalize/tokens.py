"""Token counts of a model call, in the one shape hivelog stores them.

`metadata.prompt_tokens` counts every input token, cached and cache-written ones included (as
OpenAI, Gemini and the OpenTelemetry GenAI conventions count them); `metadata.cached_tokens`
and `metadata.cache_write_tokens` say how many of them were read from or written to the
provider's prompt cache; `metadata.completion_tokens` counts every output token, reasoning
included, and `metadata.reasoning_tokens` how many of them were reasoning;
`metadata.total_tokens` is prompt + completion unless the client said otherwise.

Providers report usage in shapes of their own; `usage_tokens` reads each of them, and every
route and OTLP dialect ends in `set_tokens`, so the counts mean the same whatever brought them.
"""

from __future__ import annotations

from typing import Any

TOKEN_KEYS: tuple[str, ...] = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


def as_int(value: Any) -> int | None:
    """A token count from a number or a string of digits; anything else is not a count."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _get(obj: Any, *path: str) -> int | None:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return as_int(obj)


def _first(obj: dict[str, Any], *paths: tuple[str, ...]) -> int | None:
    for path in paths:
        value = _get(obj, *path)
        if value is not None:
            return value
    return None


def usage_tokens(usage: Any) -> dict[str, int]:
    """The token counts of a provider's `usage` object (OpenAI chat and responses, Anthropic,
    Gemini in snake or camel case), as metadata keys; counts it does not carry are left out.

    Anthropic's `input_tokens` leave out cache reads and writes: they are added, so that
    `prompt_tokens` counts every input token whatever the provider. Gemini's candidate count
    leaves out thinking tokens: they are added to `completion_tokens` the same way.
    """
    if not isinstance(usage, dict):
        return {}
    cached = _first(
        usage,
        ("prompt_tokens_details", "cached_tokens"),
        ("input_tokens_details", "cached_tokens"),
        ("cache_read_input_tokens",),
        ("cached_content_token_count",),
        ("cachedContentTokenCount",),
        ("cached_tokens",),
    )
    cache_write = _first(usage, ("cache_creation_input_tokens",), ("cache_write_tokens",))
    reasoning = _first(
        usage,
        ("completion_tokens_details", "reasoning_tokens"),
        ("output_tokens_details", "reasoning_tokens"),
        ("reasoning_tokens",),
    )
    thoughts = _first(usage, ("thoughts_token_count",), ("thoughtsTokenCount",))
    prompt = _first(usage, ("prompt_tokens",), ("prompt_token_count",), ("promptTokenCount",))
    if prompt is None:
        prompt = _get(usage, "input_tokens")
        anthropic = "cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage
        if prompt is not None and anthropic:
            prompt += (cached or 0) + (cache_write or 0)
    completion = _first(
        usage,
        ("completion_tokens",),
        ("output_tokens",),
        ("candidates_token_count",),
        ("candidatesTokenCount",),
    )
    if thoughts is not None:
        reasoning = thoughts
        completion = (completion or 0) + thoughts
    total = _first(usage, ("total_tokens",), ("total_token_count",), ("totalTokenCount",))
    found = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "cached_tokens": cached,
        "cache_write_tokens": cache_write,
        "reasoning_tokens": reasoning,
    }
    return {k: v for k, v in found.items() if v is not None}


def set_tokens(
    metadata: dict[str, Any],
    *,
    prompt: Any = None,
    completion: Any = None,
    total: Any = None,
    cached: Any = None,
    cache_write: Any = None,
    reasoning: Any = None,
    overwrite: bool = True,
) -> None:
    """Record the counts given (any that are counts) in `metadata`; `overwrite=False` keeps
    what is already there (what the client set explicitly wins over a usage object)."""
    given = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "cached_tokens": cached,
        "cache_write_tokens": cache_write,
        "reasoning_tokens": reasoning,
    }
    for key, value in given.items():
        if value is None:  # most of the six are not given
            continue
        count = value if type(value) is int and value >= 0 else as_int(value)
        if count is not None and (overwrite or metadata.get(key) is None):
            metadata[key] = count


def _count(metadata: dict[str, Any], key: str) -> int | None:
    value = metadata.get(key)
    if type(value) is int:  # the usual case, checked first: this runs for every model event
        return value if value >= 0 else None
    return None if value is None else as_int(value)


def complete_tokens(metadata: dict[str, Any]) -> None:
    """Counts that follow from the others: `total_tokens` = prompt + completion (either alone
    when only one is known), and a prompt that is smaller than its own cached part was counted
    without it (Anthropic's way), so the cached part is added."""
    prompt = _count(metadata, "prompt_tokens")
    completion = _count(metadata, "completion_tokens")
    if "cached_tokens" in metadata or "cache_write_tokens" in metadata:
        cached = _count(metadata, "cached_tokens") or 0
        written = _count(metadata, "cache_write_tokens") or 0
        if prompt is not None and cached + written > prompt:
            prompt += cached + written
            metadata["prompt_tokens"] = prompt
    if "reasoning_tokens" in metadata:
        reasoning = _count(metadata, "reasoning_tokens") or 0
        if completion is not None and reasoning > completion:
            completion += reasoning
            metadata["completion_tokens"] = completion
    known = prompt is not None or completion is not None
    if known and _count(metadata, "total_tokens") is None:
        metadata["total_tokens"] = (prompt or 0) + (completion or 0)
