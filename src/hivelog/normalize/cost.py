"""Cost of a model event from its tokens, priced by `genai-prices`.

A model the price table does not know gets no cost and `metadata.cost_status: "unpriced"`,
never a made-up $0. A cost the client sent is kept as sent.
"""

from __future__ import annotations

import functools
import math
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


def _calc(model: str, provider: str | None, input_tokens: int, output_tokens: int) -> float:
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    return float(calc_price(usage, model_ref=model, provider_id=provider).total_price)


@functools.lru_cache(maxsize=4096)
def _rates(model: str, provider: str | None) -> tuple[float, float] | bool | None:
    """Per-token (input, output) prices when the model's price is linear in tokens.

    A full price calculation costs ~70 µs, too much per span on the ingest path. Most models
    have flat per-token prices; that is checked, not assumed: the rates must reproduce the
    library's own answer at a large and a small usage. Tiered models answer False (priced
    call by call); unknown models answer None.
    """
    try:
        per_in = _calc(model, provider, 1_000_000, 0) / 1_000_000
        per_out = _calc(model, provider, 0, 1_000_000) / 1_000_000
        for tokens_in, tokens_out in ((1234, 567), (300_000, 7)):
            exact = _calc(model, provider, tokens_in, tokens_out)
            if not math.isclose(exact, per_in * tokens_in + per_out * tokens_out, rel_tol=1e-9):
                return False
    except LookupError:
        return _rates(model, None) if provider is not None else None
    return per_in, per_out


@functools.lru_cache(maxsize=65536)
def _price(model: str, provider: str | None, input_tokens: int, output_tokens: int) -> float | None:
    rates = _rates(model, provider)
    if rates is None:
        return None
    if rates is False:
        try:
            return _calc(model, provider, input_tokens, output_tokens)
        except LookupError:
            return _calc(model, None, input_tokens, output_tokens)
    assert isinstance(rates, tuple)
    return rates[0] * input_tokens + rates[1] * output_tokens


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
