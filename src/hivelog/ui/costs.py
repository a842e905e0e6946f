"""Tokens and cost of an event or a session, as the detail panel and session header show them.

The counts are those hivelog stores (hivelog.normalize.tokens): `prompt_tokens` counts every
input token, cached and cache-written ones included; `completion_tokens` every output token,
reasoning included. The breakdown splits them into what each kind is priced at. A cost hivelog
computed (`metadata.cost_status: "computed"`) is split by the rates it was computed with; a cost
the client sent is shown whole; an unknown cost says "unpriced" (or "partial" for a session
with some unpriced calls), never $0. A session's breakdown (`session_usage`) adds up its
events' lines, so each kind of token carries what it cost across the session's calls, marked
"partial" when some of those calls have no price for it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from hivelog.normalize import cost as pricing


@dataclasses.dataclass(frozen=True)
class Line:
    label: str
    tokens: int
    cost: float | None  # None: not known separately
    part_of: str | None = None  # "of which": reasoning is part of output
    partial: bool = False  # a session's line: some of its tokens have no known cost


@dataclasses.dataclass(frozen=True)
class Usage:
    lines: list[Line]
    total_tokens: int | None
    cost: float | None
    status: str | None  # None (priced), "unpriced", "partial"
    rates_source: str | None


def _count(metadata: dict[str, Any], key: str) -> int:
    value = metadata.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return int(value) if value >= 0 else 0


def _cost(metadata: dict[str, Any]) -> float | None:
    value = metadata.get("cost")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _rates(event_config: dict[str, Any], metadata: dict[str, Any]) -> pricing.Rates | None:
    """The per-token rates the cost was computed at, when hivelog computed it."""
    model = event_config.get("model")
    if metadata.get("cost_status") != "computed" or not isinstance(model, str):
        return None
    provider = event_config.get("provider")
    try:
        return pricing.rates_of(model, provider if isinstance(provider, str) else None)
    except (LookupError, ValueError):
        return None


def event_usage(event_type: str, config: dict[str, Any], metadata: dict[str, Any]) -> Usage | None:
    """The breakdown of one event; None when it carries no tokens and no cost."""
    prompt, completion = _count(metadata, "prompt_tokens"), _count(metadata, "completion_tokens")
    cached, written = _count(metadata, "cached_tokens"), _count(metadata, "cache_write_tokens")
    reasoning = _count(metadata, "reasoning_tokens")
    total = metadata.get("total_tokens")
    total = None if isinstance(total, bool) else total
    total_tokens = int(total) if isinstance(total, (int, float)) else None
    cost = _cost(metadata)
    status = metadata.get("cost_status")
    if not (prompt or completion or total_tokens or cost is not None or status == "unpriced"):
        return None
    rates = _rates(config, metadata)

    def priced(rate_name: str, n: int) -> float | None:
        return getattr(rates, rate_name) * n if rates is not None else None

    uncached = max(prompt - cached - written, 0)
    lines = [Line("input", uncached, priced("input", uncached))]
    if cached:
        lines.append(Line("cached input", cached, priced("cached", cached)))
    if written:
        lines.append(Line("cache write", written, priced("cache_write", written)))
    lines.append(Line("output", completion, priced("output", completion)))
    if reasoning:
        lines.append(Line("reasoning", reasoning, priced("output", reasoning), part_of="output"))
    unpriced = cost is None and (status == "unpriced" or event_type == "model")
    return Usage(
        lines=lines,
        total_tokens=total_tokens if total_tokens is not None else prompt + completion,
        cost=cost,
        status="unpriced" if unpriced else None,
        rates_source=rates.source if rates is not None else None,
    )


# The order a breakdown lists its lines in (event_usage's order).
_LINE_ORDER = ("input", "cached input", "cache write", "output", "reasoning")


def session_usage(usages: Iterable[Usage | None], cost: float | None, status: str) -> Usage | None:
    """A session's breakdown: its events' lines (`event_usage` of each) added up by kind.

    A kind's cost is the sum of its events' costs for it. When some events have tokens of
    that kind and no price at all (unpriced calls), the sum is marked partial (the real cost
    is higher; unknown, None, when no event has a price for it). When some event's cost is
    known but not split by kind (a cost the client sent), the kind's cost is not known
    separately either (None, "–"), as in that event's own breakdown. The total is the
    session's own `cost` and `cost_status` (hivelog.query.sessions.cost_of): "partial" or
    "unpriced" carried over, never $0.
    """
    tokens: dict[str, int] = {}
    known: dict[str, float] = {}
    unpriced: set[str] = set()  # kinds some unpriced call used
    unsplit: set[str] = set()  # kinds some call with a whole, unsplit cost used
    part_of: dict[str, str | None] = {}
    total = 0
    seen = False
    for usage in usages:
        if usage is None:
            continue
        seen = True
        total += usage.total_tokens or 0
        for line in usage.lines:
            tokens[line.label] = tokens.get(line.label, 0) + line.tokens
            part_of[line.label] = line.part_of
            if line.cost is not None:
                known[line.label] = known.get(line.label, 0.0) + line.cost
            elif line.tokens:
                (unsplit if usage.cost is not None else unpriced).add(line.label)
    if not seen:
        return None
    lines = [
        Line(
            label,
            tokens[label],
            None if label in unsplit else known.get(label),
            part_of=part_of[label],
            partial=label in known and label in unpriced and label not in unsplit,
        )
        for label in _LINE_ORDER
        if label in tokens
    ]
    return Usage(
        lines=lines,
        total_tokens=total,
        cost=cost,
        status=None if status == "complete" else status,
        rates_source=None,
    )
