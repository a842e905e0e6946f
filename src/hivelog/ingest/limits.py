"""Limits on what one write may hold: events per request, JSON nesting depth, string size.

Applied by `Writer.submit`, which every transport (REST routes, OTLP) passes through, so no
route can forget them. A request over the event count or the depth limit is refused whole
(413 / 400) before anything is queued. An oversized string is not a reason to lose the event:
it is cut to `max_field_bytes` (UTF-8), ends with `TRUNCATED_MARK`, and the event's
`metadata.hivelog_truncated` maps the field's path to its original length in bytes.

A first walk only looks (about 2 µs for a 2 KB event); the slower walk that names paths and
copies containers runs only for an event where the first found something. Strings are looked
at only when the request body is longer than the limit: no string can be longer than its body.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from hivelog.errors import BadInput, TooLarge
from hivelog.normalize.event import JSON_FIELDS, Event, EventUpdate
from hivelog.store.base import Job, WriteEvents

TRUNCATED_MARK = "…[truncated by hivelog]"
TRUNCATED_KEY = "hivelog_truncated"

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
        max_str = self.max_field_bytes // 4 if nbytes > self.max_field_bytes else -1
        walker = _Walker(self.max_json_depth, self.max_field_bytes)
        for i, event in enumerate(job.events):
            if _suspect([getattr(event, n) for n in JSON_FIELDS], self.max_json_depth, max_str) or (
                max_str >= 0 and len(event.event_name) + len(event.error or "") > max_str
            ):
                walker.event(event, f"$.events[{i}]")
        for i, update in enumerate(job.updates):
            fields = [getattr(update, n) for n in _UPDATE_FIELDS]
            if _suspect(fields, self.max_json_depth, max_str) or (
                max_str >= 0 and len(update.error or "") > max_str
            ):
                walker.update(update, f"$.updates[{i}]")


def _suspect(values: list[Any], max_depth: int, max_str: int) -> bool:
    """True if some value nests deeper than `max_depth` or (max_str >= 0) has a string longer
    than `max_str` characters. Only looks; recursion is bounded by Limits.MAX_DEPTH."""
    for value in values:
        if value and (_too_deep(value, max_depth) or (max_str >= 0 and _long(value, max_str))):
            return True
    return False


def _too_deep(value: Any, budget: int) -> bool:
    if budget <= 0:
        return True
    for v in value.values() if type(value) is dict else value:
        t = type(v)
        if (t is dict or t is list) and v and _too_deep(v, budget - 1):
            return True
    return False


def _long(value: Any, max_str: int) -> bool:
    for v in value.values() if type(value) is dict else value:
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
        for name in ("event_name", "error"):
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
        if isinstance(value, str):
            return self._string(value, path)
        if depth > self.max_depth and value:
            raise BadInput(
                f"JSON nested deeper than {self.max_depth} levels (--max-json-depth)",
                f"{where}.{path}",
            )
        if isinstance(value, dict):
            changed: dict[str, Any] | None = None
            for k, v in value.items():
                if isinstance(v, (dict, list, str)):
                    new = self._value(v, f"{path}.{k}", depth + 1, where)
                    if new is not v:
                        changed = changed if changed is not None else dict(value)
                        changed[k] = new
            return value if changed is None else changed
        if isinstance(value, list):
            out: list[Any] | None = None
            for i, v in enumerate(value):
                if isinstance(v, (dict, list, str)):
                    new = self._value(v, f"{path}.{i}", depth + 1, where)
                    if new is not v:
                        out = out if out is not None else list(value)
                        out[i] = new
            return value if out is None else out
        return value
