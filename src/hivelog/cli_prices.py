"""`hivelog prices`: the prices model calls are stored with, and where each comes from."""

from __future__ import annotations

import dataclasses

import click

from hivelog.normalize import cost
from hivelog.normalize.prices import PER_MILLION, load_prices


@dataclasses.dataclass(frozen=True)
class PriceRow:
    model: str
    rates: cost.Rates | None  # None: no price


def _genai_models() -> list[tuple[str, str]]:
    """(provider id, model id) of every model in genai-prices' table."""
    from genai_prices.data_snapshot import get_snapshot

    return [(p.id, m.id) for p in get_snapshot().providers for m in p.models]


def price_rows(prices_file: str | None, models: list[str]) -> tuple[list[PriceRow], list[str]]:
    """Rows to print, and the asked-for models that have no price (PricesError if the file
    cannot be used). Without `models`: the file's entries, then genai-prices' models."""
    cost.configure(prices_file)
    if models:
        rows = [PriceRow(m, cost.rates_of(m)) for m in models]
        return rows, [r.model for r in rows if r.rates is None]
    entries = load_prices(prices_file) if prices_file else []
    rows = [
        PriceRow(
            e.pattern,
            cost.Rates(
                e.input / PER_MILLION,
                e.output / PER_MILLION,
                e.cached / PER_MILLION,
                e.cache_write / PER_MILLION,
                f"prices file {e.source}",
            ),
        )
        for e in entries
    ]
    for provider, model in _genai_models():
        rates = cost.rates_of(model, provider)
        if rates is not None and rates.source.startswith(cost.GENAI_PRICES):
            rows.append(PriceRow(f"{provider}/{model}", rates))
    return rows, []


def _usd(per_token: float) -> str:
    return f"{per_token * PER_MILLION:.4g}"


def print_rows(rows: list[PriceRow]) -> None:
    click.echo(f"{'model':40} {'input':>9} {'output':>9} {'cached':>9} {'cache_w':>9}  source")
    click.echo(f"{'':40} {'USD per million tokens':^39}")
    for row in rows:
        r = row.rates
        if r is None:
            click.echo(f"{row.model:40} {'-':>9} {'-':>9} {'-':>9} {'-':>9}  unpriced")
            continue
        click.echo(
            f"{row.model:40} {_usd(r.input):>9} {_usd(r.output):>9} {_usd(r.cached):>9} "
            f"{_usd(r.cache_write):>9}  {r.source}"
        )
