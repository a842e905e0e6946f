"""Cost of a model event from its tokens, priced by `genai-prices`.

A model the price table does not know gets no cost and `metadata.cost_status: "unpriced"`,
never a made-up $0. A cost the client sent is kept as sent.
"""

from __future__ import annotations

import functools
from typing import Any

from genai_prices import Usage, calc_price

from hivelog.normalize.event import Event


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


@functools.lru_cache(maxsize=65536)
def _price(model: str, provider: str | None, input_tokens: int, output_tokens: int) -> float | None:
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    try:
        result = calc_price(usage, model_ref=model, provider_id=provider)
    except LookupError:
        if provider is None:
            return None
        return _price(model, None, input_tokens, output_tokens)
    return float(result.total_price)


def fill_cost(event: Event) -> None:
    """Set `metadata.cost` on a model event that has tokens and a model but no cost."""
    metadata = event.metadata
    if event.event_type != "model" or metadata.get("cost") is not None:
        return
    prompt = _int(metadata.get("prompt_tokens"))
    completion = _int(metadata.get("completion_tokens"))
    if prompt is None and completion is None:
        return
    model = event.config.get("model")
    if not isinstance(model, str) or not model:
        metadata["cost_status"] = "unpriced"
        return
    provider = event.config.get("provider")
    cost = _price(
        model,
        provider if isinstance(provider, str) and provider else None,
        prompt or 0,
        completion or 0,
    )
    if cost is None:
        metadata["cost_status"] = "unpriced"
    else:
        metadata["cost"] = cost
        metadata["cost_status"] = "computed"
