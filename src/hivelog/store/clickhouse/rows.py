"""Events as rows of ClickHouse's `JSONCompactEachRow`, arrival order, versions, and the fold
of update patches onto a row.

An event's JSON fields are written as JSON (not as strings holding JSON): with
`input_format_json_read_objects_as_strings` the engine stores each object's text exactly as
sent, so encoding an event is one msgspec call and what is stored is the same text the other
backends store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from hivelog.event import JSON_FIELDS, Event
from hivelog.store.clickhouse.connection import VERSION_AT
from hivelog.store.rows import SCALAR_COLUMNS, apply_parked, row_to_event

# INSERT column order after `project` (see `encode_rows`).
INSERT_COLUMNS = (
    *SCALAR_COLUMNS,
    "children_ids",
    *JSON_FIELDS,
    "arrival",
    "version",
)
INSERT_SQL = f"INSERT INTO events (project, {', '.join(INSERT_COLUMNS)}) FORMAT JSONCompactEachRow"
INSERT_SETTINGS = {
    "input_format_json_read_objects_as_strings": 1,
    "input_format_json_read_arrays_as_strings": 1,
    "max_partitions_per_insert_block": 0,  # a batch may span any number of days
}

ORIGINAL_TOP = 1 << 62  # originals: 2^62 - arrival, so the first arrival wins
COMPACTED = 1 << 63  # folded rows: see folded_version

_encode = msgspec.json.Encoder().encode
_lock = threading.Lock()
_last = 0


def next_arrival() -> int:
    """Nanoseconds since the epoch, strictly increasing in this process, always even (a
    placeholder session sorts just after the event that named it, at arrival + 1)."""
    global _last
    with _lock:
        now = time.time_ns() & ~1
        _last = now if now > _last else _last + 2
        return _last


def _obj(value: dict[str, Any] | list[str]) -> Any:
    return value or None


def event_line(event: Event, arrival: int, version: int) -> bytes:
    """One row, without its leading project (the writer adds it: `[key,` + line[1:])."""
    return _encode(
        (
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
            _obj(event.children_ids),
            _obj(event.config),
            _obj(event.inputs),
            _obj(event.outputs),
            _obj(event.metadata),
            _obj(event.feedback),
            _obj(event.metrics),
            _obj(event.user_properties),
            arrival,
            version,
        )
    )


def encode_rows(events: list[Event]) -> list[bytes]:
    """Events as the store writes them (in the request's thread; see Store.encode_rows)."""
    lines = []
    for event in events:
        arrival = next_arrival()
        lines.append(event_line(event, arrival, ORIGINAL_TOP - arrival))
    return lines


def with_project(key: int, line: bytes) -> bytes:
    return b"[" + str(key).encode() + b"," + line[1:]


def folded_version(patches: Sequence[tuple[int, str]]) -> int:
    """The version of a row with `patches` (sorted by seq) folded on: 2^63 + the newest seq
    (to 256 ns) + how many (up to 255), so folding more patches always outranks fewer — even
    a patch that arrived late with an older seq (another process, clock skew)."""
    return COMPACTED + (patches[-1][0] & ~0xFF) + min(len(patches), 0xFF)


def is_stale(row: Sequence[Any], newest_seq: int, count: int) -> bool:
    """Whether patches (the newest seq, how many) are not all folded into `row`."""
    return COMPACTED + (newest_seq & ~0xFF) + min(max(count, 1), 0xFF) > int(row[VERSION_AT])


def fold(row: Sequence[Any], patches: Sequence[tuple[int, str]]) -> tuple[Event, int]:
    """The event of `row` with *every* patch folded on in seq order, and the row's version.

    Folding all of them onto a row that already holds some gives the same event as folding
    them onto the original: an update sets values (merging keys, replacing outputs) and never
    adds to them, so each value ends as the last patch that sets it left it. Deterministic:
    every process folding the same patches writes the same row."""
    event = row_to_event(row)
    event.duration = float(event.duration)
    apply_parked(event, patches)
    return event, folded_version(patches)


def stored_row(event: Event, row: Sequence[Any], version: int) -> list[Any]:
    """A row of SELECT's columns holding `event` (for reads that fold without writing)."""
    from hivelog.store.rows import event_values

    values = event_values(event, placeholder=int(row[11]))
    return [row[0], *values, version, *row[VERSION_AT + 1 :]]
