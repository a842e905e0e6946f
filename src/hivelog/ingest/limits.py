"""Limits on what one write may hold: events per request, JSON nesting depth, string size,
id length, and which numbers and times can be stored.

Applied by `Writer.submit`, which every transport (REST routes, OTLP, `hivelog import`, which
posts to the REST routes) passes through, so no route can forget them. A request over the event
count or the depth limit, with an id longer than `MAX_ID_BYTES` or a time no date can have, is
refused whole (413 / 400, naming where) before anything is queued.

An oversized string is not a reason to lose the event: it is cut to `max_field_bytes` (UTF-8),
ends with `TRUNCATED_MARK`, and the event's `metadata.hivelog_truncated` maps the field's path
to its original length in bytes. That holds for every string stored: names, source, error and
every string and object key inside the JSON fields.

Numbers every reader can show: JSON has no NaN or infinity and a stored 64-bit integer has a
range, so inside the JSON fields a non-finite float is stored as the string "NaN", "Infinity"
or "-Infinity" and an integer outside 64 bits as a float (or, past a float's range, as its
decimal string) — the value stays visible, and numeric filters and charts skip it. A non-finite
or out-of-range `duration` (OTLP attributes can carry one) is replaced by `end_time -
start_time` and the value sent is kept in `metadata.hivelog_clamped`.

A first walk only looks (about 2 µs for a 2 KB event); the slower walk that names paths and
copies containers runs only for an event where the first found something. Strings are looked
at only when the request body is longer than the limit: no string can be longer than its body.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Sequence
from typing import Any, ClassVar

from hivelog.errors import BadInput, TooLarge
from hivelog.event import JSON_FIELDS, Event, EventUpdate
from hivelog.normalize.times import LIMIT_MS
from hivelog.store.base import Job, WriteEvents

TRUNCATED_MARK = "…[truncated by hivelog]"
TRUNCATED_KEY = "hivelog_truncated"
CLAMPED_KEY = "hivelog_clamped"
# Longest id (event, session, parent, child) and project name, in UTF-8 bytes: ids are index
# keys, and PostgreSQL refuses an index row over ~2.7 KB, so both backends refuse past this.
MAX_ID_BYTES = 1024
MAX_DURATION_MS = float(LIMIT_MS)
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_ID_FIELDS = ("event_id", "session_id", "parent_id")
_json_fields = operator.attrgetter(*JSON_FIELDS)  # an event's JSON fields, as a tuple

# `logs`: OTLP log records folded into their span's event (normalize/logs.py)
_UPDATE_FIELDS = (
    "config",
    "outputs",
    "metadata",
    "feedback",
    "metrics",
    "user_properties",
    "logs",
)


@dataclasses.dataclass(frozen=True)
class Limits:
    MAX_DEPTH: ClassVar[int] = 200  # the checks recurse; Python's own limit is 1000 frames

    max_batch_events: int
    max_field_bytes: int
    max_json_depth: int

    def apply(self, job: Job, nbytes: int) -> None:
        """Refuse `job` (TooLarge/BadInput) or truncate its long strings in place."""
        if not isinstance(job, WriteEvents):
            return
        if job.size() > self.max_batch_events:
            raise TooLarge(
                f"{job.size()} events in one request is over the limit of "
                f"{self.max_batch_events} (--max-batch-events); send smaller batches",
                "$",
            )
        _check_id(job.project, "project", "$.project")
        max_str = self._max_str(nbytes)
        walker = _Walker(self.max_json_depth, self.max_field_bytes)
        # events a conversion worker found `unchanged` by these limits: nothing to look at
        events = job.events if job.checked_by != self else []
        for i, event in enumerate(events):
            if _odd_scalars(event):
                _check_event(event, f"$.events[{i}]")
            if self._suspect_fields(event, max_str):
                walker.event(event, f"$.events[{i}]")
        for i, update in enumerate(job.updates):
            where = f"$.updates[{i}]"
            _check_update(update, where)
            fields = [getattr(update, n) for n in _UPDATE_FIELDS]
            if _suspect(fields, self.max_json_depth, max_str) or (
                max_str >= 0 and len(update.error or "") > max_str
            ):
                walker.update(update, where)

    def unchanged(self, events: list[Event], nbytes: int) -> bool:
        """Would `apply` leave every one of `events` as it is (nothing refused, cut, clamped
        or rewritten)? Asked by a conversion worker, with the size of the whole body (at least
        any job's share of it, so at least as strict as `apply` will be), before it encodes
        rows that `apply` then need not walk again (`WriteEvents.checked_by`)."""
        max_str = self._max_str(nbytes)
        return not any(_odd_scalars(e) or self._suspect_fields(e, max_str) for e in events)

    def _max_str(self, nbytes: int) -> int:
        """Strings longer than this may be over the field limit (a UTF-8 character takes at
        most 4 bytes); -1 when the whole body is within it, so none can be."""
        return self.max_field_bytes // 4 if nbytes > self.max_field_bytes else -1

    def _suspect_fields(self, event: Event, max_str: int) -> bool:
        """Cheap: could a field of `event` be too deep, not finite or too long? Only then does
        the walker look closely (and cut, clamp or refuse)."""
        return _suspect(_json_fields(event), self.max_json_depth, max_str) or (
            max_str >= 0
            and len(event.event_name) + len(event.error or "") + len(event.source) > max_str
        )


_ID_CHARS = MAX_ID_BYTES // 4  # an id of at most this many characters cannot be over


def _odd_scalars(event: Event) -> bool:
    """Cheap: could an id be too long, a time out of range or the duration not finite? Only
    then does `_check_event` look closely (and name where)."""
    if (
        len(event.event_id) > _ID_CHARS
        or len(event.session_id) > _ID_CHARS
        or (event.parent_id is not None and len(event.parent_id) > _ID_CHARS)
        or not -LIMIT_MS <= event.start_time <= LIMIT_MS
        or not -LIMIT_MS <= event.end_time <= LIMIT_MS
        or not -MAX_DURATION_MS <= event.duration <= MAX_DURATION_MS  # False for NaN too
    ):
        return True
    return any(len(child) > _ID_CHARS for child in event.children_ids)


def _check_id(value: str | None, name: str, where: str) -> None:
    """BadInput if an id (or project name) is longer than MAX_ID_BYTES."""
    if value is not None and len(value) > _ID_CHARS:
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > MAX_ID_BYTES:
            raise BadInput(f"{name} is {size} bytes, over the limit of {MAX_ID_BYTES}", where)


def _check_time(ms: int, where: str) -> None:
    if not -LIMIT_MS <= ms <= LIMIT_MS:
        raise BadInput(f"time {ms} is out of range for epoch milliseconds", where)


def _check_event(event: Event, where: str) -> None:
    """Refuse what cannot be stored as sent (long ids, impossible times); clamp a duration that
    is not a finite number of milliseconds to the event's own span."""
    for name in _ID_FIELDS:
        _check_id(getattr(event, name), name, f"{where}.{name}")
    for k, child in enumerate(event.children_ids):
        _check_id(child, "a child id", f"{where}.children_ids[{k}]")
    _check_time(event.start_time, f"{where}.start_time")
    _check_time(event.end_time, f"{where}.end_time")
    duration = event.duration
    if not -MAX_DURATION_MS <= duration <= MAX_DURATION_MS:  # False for NaN too
        event.metadata = {**event.metadata, CLAMPED_KEY: {"duration": _number_text(duration)}}
        event.duration = float(event.end_time - event.start_time)


def _check_update(update: EventUpdate, where: str) -> None:
    _check_id(update.event_id, "event_id", f"{where}.event_id")
    for k, child in enumerate(update.children_ids or ()):
        _check_id(child, "a child id", f"{where}.children_ids[{k}]")
    if update.end_time is not None:
        _check_time(update.end_time, f"{where}.end_time")
    duration = update.duration
    if duration is not None and not -MAX_DURATION_MS <= duration <= MAX_DURATION_MS:
        raise BadInput("duration must be a finite number of milliseconds", f"{where}.duration")


def _number_text(value: float) -> str | float:
    """A float JSON can carry: itself if finite, else "NaN", "Infinity" or "-Infinity"."""
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _big_int(value: int) -> float | str:
    """An integer outside 64 bits as a float, or past a float's range as its digits."""
    try:
        return float(value)
    except OverflowError:
        return str(value)


def _suspect(values: Sequence[Any], max_depth: int, max_str: int) -> bool:
    """True if some value nests deeper than `max_depth`, holds a number JSON or a 64-bit
    integer cannot carry, or (max_str >= 0) has a string or key longer than `max_str`
    characters. Only looks; recursion is bounded by Limits.MAX_DEPTH."""
    for value in values:
        if value and (_odd(value, max_depth) or (max_str >= 0 and _long(value, max_str))):
            return True
    return False


def _odd(value: Any, budget: int) -> bool:
    """Too deep, or a non-finite float or a huge integer somewhere inside."""
    if budget <= 0:
        return True
    for v in value.values() if type(value) is dict else value:
        t = type(v)
        if t is float:
            if v - v != 0.0:  # inf - inf and nan - nan are NaN; finite - itself is 0
                return True
        elif t is int:
            if not _INT_MIN <= v <= _INT_MAX:
                return True
        elif (t is dict or t is list) and v and _odd(v, budget - 1):
            return True
    return False


def _long(value: Any, max_str: int) -> bool:
    if type(value) is dict:
        for k, v in value.items():
            t = type(v)
            if (
                len(k) > max_str
                or (t is str and len(v) > max_str)
                or ((t is dict or t is list) and _long(v, max_str))
            ):
                return True
        return False
    for v in value:
        t = type(v)
        if (t is str and len(v) > max_str) or ((t is dict or t is list) and _long(v, max_str)):
            return True
    return False


class _Walker:
    def __init__(self, max_depth: int, max_bytes: int) -> None:
        self.max_depth = max_depth
        self.max_bytes = max_bytes
        self.cut: dict[str, int] = {}

    def event(self, event: Event, where: str) -> bool:
        """Cut `event`'s long strings in place; True if any was."""
        self.cut = {}
        for name in ("event_name", "source", "error"):
            value = getattr(event, name)
            if isinstance(value, str):
                setattr(event, name, self._string(value, name))
        for name in JSON_FIELDS:
            value = getattr(event, name)
            if value:
                setattr(event, name, self._value(value, name, 1, where))
        if self.cut:
            event.metadata = {**event.metadata, TRUNCATED_KEY: self.cut}
        return bool(self.cut)

    def update(self, update: EventUpdate, where: str) -> None:
        self.cut = {}
        if update.error is not None:
            update.error = self._string(update.error, "error")
        for name in _UPDATE_FIELDS:
            value = getattr(update, name)
            if value:
                setattr(update, name, self._value(value, name, 1, where))
        if self.cut:
            update.metadata = {**(update.metadata or {}), TRUNCATED_KEY: self.cut}

    def _string(self, value: str, path: str) -> str:
        if len(value) * 4 <= self.max_bytes:  # cannot be over, whatever its characters
            return value
        encoded = value.encode("utf-8", "surrogatepass")
        if len(encoded) <= self.max_bytes:
            return value
        self.cut[path] = len(encoded)
        keep = max(self.max_bytes - len(TRUNCATED_MARK.encode()), 0)
        return encoded[:keep].decode("utf-8", "ignore") + TRUNCATED_MARK

    def _value(self, value: Any, path: str, depth: int, where: str) -> Any:
        """The value with long strings cut; BadInput if nested deeper than the limit."""
        t = type(value)
        if t is str:
            return self._string(value, path)
        if t is float:
            return _number_text(value)
        if t is int:
            return value if _INT_MIN <= value <= _INT_MAX else _big_int(value)
        if t is not dict and t is not list:
            return value
        if depth > self.max_depth and value:
            raise BadInput(
                f"JSON nested deeper than {self.max_depth} levels (--max-json-depth)",
                f"{where}.{path}",
            )
        if isinstance(value, dict):
            return self._object(value, path, depth, where)
        if isinstance(value, list):
            out: list[Any] | None = None
            for i, v in enumerate(value):
                if isinstance(v, (dict, list, str, float, int)):
                    new = self._value(v, f"{path}.{i}", depth + 1, where)
                    if new is not v:
                        out = out if out is not None else list(value)
                        out[i] = new
            return value if out is None else out
        return value

    def _object(self, value: dict[str, Any], path: str, depth: int, where: str) -> dict[str, Any]:
        """The object with long keys and values cut (a cut key that meets another keeps both
        values: the later one gets a numbered suffix)."""
        changed: dict[str, Any] | None = None
        for k, v in value.items():
            key = self._string(k, f"{path}.{k[:64]}") if isinstance(k, str) else k
            new = (
                self._value(v, f"{path}.{key[:64]}", depth + 1, where)
                if isinstance(v, (dict, list, str, float, int))
                else v
            )
            if changed is None and (new is not v or key is not k):
                changed = {}
                for k2, v2 in value.items():
                    if k2 is k:
                        break
                    changed[k2] = v2
            if changed is not None:
                n = 1
                unique = key
                while unique in changed:
                    unique, n = f"{key}#{n}", n + 1
                changed[unique] = new
        return value if changed is None else changed
