"""JSON encoding that never raises into the user's code.

Traced arguments and return values can be anything: sockets, numpy arrays, objects with
cycles, dicts keyed by tuples, NaN. The fast path is the C encoder; anything it refuses is
rebuilt as plain JSON values, with the odd parts replaced by their `repr`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import uuid
from typing import Any

_MAX_DEPTH = 64


def _default(value: Any) -> Any:
    """The C encoder's hook for types JSON lacks: readable forms first, `repr` otherwise."""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return safe_repr(value)


_fast = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_default
).encode


def safe_repr(value: Any) -> str:
    """`repr`, or a placeholder when even `repr` fails (a broken `__repr__` is user code)."""
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def _plain(value: Any, depth: int, seen: set[int]) -> Any:
    """A copy of `value` made only of JSON types; cycles and oddities become strings."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else safe_repr(value)
    if depth > _MAX_DEPTH:
        return safe_repr(value)
    if isinstance(value, (dict, list, tuple)):
        if id(value) in seen:
            return "<cycle>"
        seen.add(id(value))
        try:
            if isinstance(value, dict):
                return {
                    (k if isinstance(k, str) else safe_repr(k)): _plain(v, depth + 1, seen)
                    for k, v in list(value.items())
                }
            return [_plain(v, depth + 1, seen) for v in list(value)]
        finally:
            seen.discard(id(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        try:
            return _plain(dataclasses.asdict(value), depth + 1, seen)
        except Exception:
            return safe_repr(value)
    converted = _default(value)
    return converted if isinstance(converted, str) else _plain(converted, depth + 1, seen)


def to_json(value: Any) -> str:
    """Encode `value` as compact JSON text; never raises."""
    try:
        return _fast(value)
    except Exception:  # TypeError (keys), ValueError (NaN, cycles), RecursionError
        pass
    try:
        return _fast(_plain(value, 0, set()))
    except Exception:
        return _fast(safe_repr(value))


def plain(value: Any) -> Any:
    """`value` as JSON-ready data (round-trips through `to_json`); never raises."""
    return json.loads(to_json(value))
