"""Cost of a model event from its tokens, priced by `genai-prices` (or the prices file).

Input tokens read from the provider's prompt cache (`metadata.cached_tokens`) and written to it
(`metadata.cache_write_tokens`) are priced at their own rates, the rest of the prompt at the
input rate, and every completion token (reasoning included) at the output rate. A prices file
(`--prices`, see `prices`) overrides and extends genai-prices' table.

A model nobody has a price for gets no cost and `metadata.cost_status: "unpriced"`, never a
made-up $0. A cost the client sent is kept as sent.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path
from typing import Any, NamedTuple

from genai_prices import Usage, calc_price

from hivelog.event import Event
from hivelog.normalize.prices import PER_MILLION, CustomPrice, find, load_prices
from hivelog.normalize.tokens import as_int, complete_tokens

GENAI_PRICES = "genai-prices"


class Tokens(NamedTuple):
    """What a call used, as priced: `prompt` counts every input token, cached ones included.
    (A NamedTuple: made for every model event, and a frozen dataclass costs 10x to build.)"""

    prompt: int = 0
    completion: int = 0
    cached: int = 0
    cache_write: int = 0


@dataclasses.dataclass(frozen=True)
class Rates:
    """USD per token of each kind, and where the prices came from."""

    input: float
    output: float
    cached: float
    cache_write: float
    source: str

    def price(self, t: Tokens) -> float:
        uncached = max(t.prompt - t.cached - t.cache_write, 0)
        return (
            self.input * uncached
            + self.cached * t.cached
            + self.cache_write * t.cache_write
            + self.output * t.completion
        )


_custom: list[CustomPrice] = []


def configure(prices_file: str | Path | None) -> None:
    """Use the prices file's entries from now on (None: genai-prices alone). Called once per
    process at start (the server and its conversion workers); PricesError if it is unusable."""
    global _custom
    _custom = load_prices(prices_file) if prices_file else []
    _rates.cache_clear()
    _exact.cache_clear()


def _calc(model: str, provider: str | None, t: Tokens) -> float:
    usage = Usage(
        input_tokens=t.prompt,
        cache_read_tokens=t.cached,
        cache_write_tokens=t.cache_write,
        output_tokens=t.completion,
    )
    return float(calc_price(usage, model_ref=model, provider_id=provider).total_price)


_PROBES = (Tokens(1234, 567, 300, 50), Tokens(300_000, 7, 100_000, 0))


@functools.lru_cache(maxsize=4096)
def _rates(model: str, provider: str | None) -> Rates | bool | None:
    """Per-token rates of `model` when its price is linear in tokens.

    A full price calculation costs ~70 µs, too much per span on the ingest path. Most models
    have flat per-token prices; that is checked, not assumed: the rates must reproduce the
    library's own answer at mixed usages. Tiered models answer False (priced call by call);
    unknown models answer None.
    """
    custom = find(_custom, model)
    if custom is not None:
        return Rates(
            custom.input / PER_MILLION,
            custom.output / PER_MILLION,
            custom.cached / PER_MILLION,
            custom.cache_write / PER_MILLION,
            f"prices file {custom.source}",
        )
    m = PER_MILLION
    try:
        per_in = _calc(model, provider, Tokens(prompt=m)) / m
        rates = Rates(
            input=per_in,
            output=_calc(model, provider, Tokens(completion=m)) / m,
            cached=_calc(model, provider, Tokens(prompt=m, cached=m)) / m,
            cache_write=_calc(model, provider, Tokens(prompt=m, cache_write=m)) / m,
            source=GENAI_PRICES,
        )
        for probe in _PROBES:
            exact = _calc(model, provider, probe)
            if not math.isclose(exact, rates.price(probe), rel_tol=1e-9, abs_tol=1e-12):
                return False
    except (LookupError, ValueError):
        return _rates(model, None) if provider is not None else None
    return rates


def rates_of(model: str, provider: str | None = None) -> Rates | None:
    """The per-token rates a call of `model` is priced at (None: unpriced). For a model whose
    price is tiered, the rates of its first tier (`hivelog prices` shows them)."""
    found = _rates(model, provider)
    if isinstance(found, Rates):
        return found
    if found is None:
        return None
    try:
        return Rates(
            input=_calc(model, provider, Tokens(prompt=1000)) / 1000,
            output=_calc(model, provider, Tokens(completion=1000)) / 1000,
            cached=_calc(model, provider, Tokens(prompt=1000, cached=1000)) / 1000,
            cache_write=_calc(model, provider, Tokens(prompt=1000, cache_write=1000)) / 1000,
            source=f"{GENAI_PRICES} (tiered: the first tier's rates)",
        )
    except (LookupError, ValueError):
        return rates_of(model) if provider is not None else None


@functools.lru_cache(maxsize=65536)
def _exact(model: str, provider: str | None, t: Tokens) -> float | None:
    """The library's own calculation (tiered models): ~70 µs, so remembered."""
    for p in (provider, None) if provider is not None else (None,):
        try:
            return _calc(model, p, t)
        except (LookupError, ValueError):
            continue
    return None


def price(model: str, provider: str | None, t: Tokens) -> float | None:
    """USD for a call of `model` (None: no price known)."""
    rates = _rates(model, provider or None)
    if rates is None:
        return None
    if rates is False:
        return _exact(model, provider or None, t)
    assert isinstance(rates, Rates)
    return rates.price(t)


def _count(metadata: dict[str, Any], key: str) -> int | None:
    value = metadata.get(key)
    if type(value) is int:  # the usual case, checked first: this runs for every model event
        return value if value >= 0 else None
    return as_int(value)


def _tokens(metadata: dict[str, Any]) -> Tokens | None:
    prompt = _count(metadata, "prompt_tokens")
    completion = _count(metadata, "completion_tokens")
    if prompt is None and completion is None:
        return None
    prompt = prompt or 0
    cached = written = 0
    if "cached_tokens" in metadata or "cache_write_tokens" in metadata:
        cached = min(_count(metadata, "cached_tokens") or 0, prompt)
        written = min(_count(metadata, "cache_write_tokens") or 0, prompt - cached)
    return Tokens(prompt=prompt, completion=completion or 0, cached=cached, cache_write=written)


def fill_cost(event: Event) -> None:
    """On a model event: the token counts completed (`total_tokens`, see `tokens`), and
    `metadata.cost` set from them unless the client sent one."""
    metadata = event.metadata
    if event.event_type != "model":
        return
    complete_tokens(metadata)
    if metadata.get("cost") is not None:
        return
    tokens = _tokens(metadata)
    if tokens is None:  # no cost and no status: its session counts it as unpriced
        return
    model = event.config.get("model")
    if not isinstance(model, str) or not model:
        metadata["cost_status"] = "unpriced"
        return
    provider = event.config.get("provider")
    cost = price(model, provider if isinstance(provider, str) else None, tokens)
    if cost is None:
        metadata["cost_status"] = "unpriced"
    else:
        metadata["cost"] = cost
        metadata["cost_status"] = "computed"


def reprice(event: Event, changed: dict[str, Any] | None) -> None:
    """After an update changed a model event's metadata or config: a cost hivelog computed is
    computed again from the new counts; a cost the update itself sends is the client's."""
    if event.event_type != "model":
        return
    metadata = event.metadata
    if changed and "cost" in changed:
        if "cost_status" not in changed:
            metadata.pop("cost_status", None)
        return
    if metadata.get("cost_status") == "computed":
        metadata.pop("cost", None)
    if metadata.get("cost") is None:
        fill_cost(event)
