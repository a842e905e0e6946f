"""Timestamps as clients send them (ms numbers, floats, ISO strings) → integer epoch ms, and
the one rule that settles an event's start, end and duration from what the client gave."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from hivelog.errors import BadInput

MAX_DURATION_MS = 10_000 * 366 * 24 * 3600 * 1000.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def event_times(
    start: Any, end: Any, duration: float | None, where: str, now: int
) -> tuple[int, int, float]:
    """(start, end, duration) of an event from the parts the client sent; every REST route
    (classic and v1, single, batch, model events, sessions, and so `hivelog import`) uses it.

    An event is logged when it ends (the guide's sync strategy): with a duration and neither
    start nor end, it ended at `now` (when it was received) and started `duration` earlier.
    With one end and a duration, the other end follows; with both ends, the duration is their
    difference unless given; with nothing, it is an instant at `now`.
    """
    if duration is not None and not abs(duration) <= MAX_DURATION_MS:
        raise BadInput("duration is out of range for milliseconds", f"{where}.duration")
    start_ms = to_ms(start, f"{where}.start_time")
    end_ms = to_ms(end, f"{where}.end_time")
    span = round(duration) if duration is not None else None
    if start_ms is None and end_ms is None:
        end_ms = now
    if start_ms is None:
        assert end_ms is not None
        start_ms = end_ms - (span or 0)
    if end_ms is None:
        end_ms = start_ms + (span or 0)
    if duration is None:
        duration = float(end_ms - start_ms)
    return start_ms, end_ms, float(duration)


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
