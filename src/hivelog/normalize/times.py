"""Timestamps as clients send them (ms numbers, floats, ISO strings) → integer epoch ms."""

from __future__ import annotations

import datetime as dt
import time

from hivelog.errors import BadInput


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_ms(value: int | float | str | None, where: str) -> int | None:
    """Integer epoch milliseconds, or None when not given.

    Numbers are milliseconds (HoneyHive's unit); strings may be numbers or ISO 8601
    (a naive ISO time is UTC).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _in_range(value, where)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise BadInput("time must be a finite number", where)
        return _in_range(round(value), where)
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return to_ms(number, where)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"time {value!r} is neither epoch milliseconds nor an ISO 8601 date", where
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return round(parsed.timestamp() * 1000)


# Epoch milliseconds within ±10,000 years: anything beyond is a unit mistake, and it must
# still fit a 64-bit integer column.
_LIMIT_MS = 10_000 * 366 * 24 * 3600 * 1000
LIMIT_MS = _LIMIT_MS  # what every entry accepts (ingest/limits.py checks stored events)


def _in_range(ms: int, where: str) -> int:
    if -_LIMIT_MS <= ms <= _LIMIT_MS:
        return ms
    raise BadInput(f"time {ms} is out of range for epoch milliseconds", where)
