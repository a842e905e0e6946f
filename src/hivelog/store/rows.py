"""Event ↔ table row, the same for every backend.

JSON fields are stored as JSON text, an empty object as NULL (most events leave most of
them empty, and NULL costs nothing to store or to parse back).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec

from hivelog.event import JSON_FIELDS, Event, EventHead, EventUpdate, apply_update
from hivelog.store.base import StoredEvent

_encode = msgspec.json.Encoder().encode
_decode_obj = msgspec.json.Decoder(dict[str, Any]).decode
_decode_list = msgspec.json.Decoder(list[str]).decode
_decode_update = msgspec.json.Decoder(EventUpdate).decode


def apply_parked(event: Event, parked: Iterable[tuple[int, str | bytes]]) -> None:
    """Fold updates stored as JSON, `(seq, body)` oldest first, onto `event` in place: the
    updates parked before their event, and ClickHouse's patches."""
    for _, body in parked:
        apply_update(event, _decode_update(body))


def with_parked(event: Event, parked: Iterable[tuple[int, str | bytes]]) -> Event:
    """A copy of `event` with `parked` folded on (apply_parked). The caller's event stays as
    sent: a write replayed after a failure folds again from it."""
    folded = msgspec.structs.replace(event, metadata=dict(event.metadata))
    apply_parked(folded, parked)
    return folded


# The scalar columns of an event, in storage order (every backend's rows start with them).
SCALAR_COLUMNS: tuple[str, ...] = (
    "event_id",
    "session_id",
    "parent_id",
    "event_type",
    "event_name",
    "source",
    "start_time",
    "end_time",
    "duration",
    "error",
)

# Column order of every SELECT of whole events.
EVENT_COLUMNS: tuple[str, ...] = (
    "seq",
    *SCALAR_COLUMNS,
    "placeholder",
    "children_ids",
    *JSON_FIELDS,
)
# Column order of INSERTs (after `project`).
INSERT_COLUMNS: tuple[str, ...] = EVENT_COLUMNS[1:]


def whole(value: float | int | None) -> int:
    """An SQL sum as an int; 0 for none, and a sum past any integer (a stored 1e308 plus
    another) as the largest 64-bit one, so a page shows a number instead of failing."""
    if value is None:
        return 0
    try:
        return max(min(int(value), _INT64_MAX), -_INT64_MAX)
    except (OverflowError, ValueError):  # infinity, NaN
        return _INT64_MAX if value == value and value > 0 else 0


_INT64_MAX = 2**63 - 1


def to_json(value: dict[str, Any] | list[str] | None) -> str | None:
    if not value:
        return None
    return _encode(value).decode()


def event_values(
    event: Event, placeholder: int = 0, large: Callable[[dict[str, Any]], Any] = to_json
) -> tuple[Any, ...]:
    """The INSERT_COLUMNS values of one event. `large` stores `inputs` and `outputs`, most of
    an event's bytes (SQLite packs them: store/packing.py); JSON text by default."""
    return (
        event.event_id,
        event.session_id,
        event.parent_id,
        event.event_type,
        event.event_name,
        event.source,
        event.start_time,
        event.end_time,
        event.duration,
        event.error,
        placeholder,
        to_json(event.children_ids),
        to_json(event.config),
        large(event.inputs),
        large(event.outputs),
        to_json(event.metadata),
        to_json(event.feedback),
        to_json(event.metrics),
        to_json(event.user_properties),
    )


def _obj(text: str | bytes | None) -> dict[str, Any]:
    return _decode_obj(text) if text else {}


def _head(row: Sequence[Any]) -> dict[str, Any]:
    """The scalar fields of a row in EVENT_COLUMNS order (all but the JSON objects)."""
    return {
        "event_id": row[1],
        "session_id": row[2],
        "parent_id": row[3],
        "event_type": row[4],
        "event_name": row[5],
        "source": row[6],
        "start_time": row[7],
        "end_time": row[8],
        "duration": row[9],
        "error": row[10],
        "children_ids": _decode_list(row[12]) if row[12] else [],
    }


_JSON_AT = {name: 13 + i for i, name in enumerate(JSON_FIELDS)}  # column of each JSON field
_DECODED_IN_STORED = ("metadata", "feedback")  # what the session tree's aggregates read


def row_to_event(row: Sequence[Any]) -> Event:
    """An Event from a row in EVENT_COLUMNS order."""
    objects: dict[str, Any] = {name: _obj(row[i]) for name, i in _JSON_AT.items()}
    return Event(**_head(row), **objects)


_EMPTY = msgspec.Raw(b"{}")


def _raw(text: str | bytes | None) -> msgspec.Raw:
    return msgspec.Raw(text) if text else _EMPTY


def row_to_stored(row: Sequence[Any]) -> StoredEvent:
    """A StoredEvent from a row in EVENT_COLUMNS order: only metadata and feedback decoded."""
    objects: dict[str, Any] = {
        name: _obj(row[i]) if name in _DECODED_IN_STORED else _raw(row[i])
        for name, i in _JSON_AT.items()
    }
    return StoredEvent(**_head(row), **objects)


def with_children(events: list[StoredEvent]) -> list[StoredEvent]:
    """A session's events with `children_ids` derived from their `parent_id`s."""
    children: dict[str, list[str]] = {}
    for e in events:
        if e.parent_id is not None:
            children.setdefault(e.parent_id, []).append(e.event_id)
    for e in events:
        merge_children(e, children.get(e.event_id, []))
    return events


def placeholder_sessions(
    events: Iterable[EventHead], names: dict[str, str] | None = None
) -> dict[str, Event]:
    """session id → the session its events imply.

    A session referenced before it starts is stored as a placeholder spanning all its events,
    whatever order they come in; the real session start replaces it. It is named from `names`
    (an OTLP trace's root span) or "unknown"; a placeholder still "unknown" takes the name
    when a later write brings one."""
    out: dict[str, Event] = {}
    for e in events:
        if e.event_type == "session":
            continue
        session = out.get(e.session_id)
        if session is None:
            session = Event(
                event_id=e.session_id,
                session_id=e.session_id,
                parent_id=None,
                event_type="session",
                event_name=(names or {}).get(e.session_id, "unknown"),
                source=e.source,
                start_time=e.start_time,
                end_time=e.end_time,
                duration=e.duration,
            )
            out[e.session_id] = session
        else:
            session.start_time = min(session.start_time, e.start_time)
            session.end_time = max(session.end_time, e.end_time)
            session.duration = float(session.end_time - session.start_time)
    return out


def merge_children(event: Event | StoredEvent, derived: list[str]) -> None:
    """children_ids = ids the client set, then children found by `parent_id`, no repeats."""
    if not derived:
        return
    if not event.children_ids:
        event.children_ids = list(derived)
        return
    seen = set(event.children_ids)
    event.children_ids = event.children_ids + [c for c in derived if c not in seen]
