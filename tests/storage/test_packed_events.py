"""Events a conversion worker sends packed (`PackedEvents`, with their rows) are stored as the
same events sent as a list: on the hot path the store reads only their heads, and whatever
rewrites an event (a trace moved to the session it named, updates parked before their event
folded on, runs of jobs merged) decodes them first. The oracle is the same writes with plain
lists of events."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import msgspec

from hivelog.event import Event, EventHead, EventUpdate, PackedEvents, TraceLink
from hivelog.normalize.otlp import trace_session_id
from hivelog.store import packing
from hivelog.store.base import WriteEvents
from hivelog.store.rows import INSERT_COLUMNS
from hivelog.store.sqlite import SqliteStore
from hivelog.store.sqlite.writes import sqlite_rows

TRACE = "0af7651916cd43dd8448eb211c80319c"
SESSION = trace_session_id(TRACE)
NAMED = "named-session"


def _span(n: int, session: str) -> Event:
    trace = TRACE if session in (SESSION, NAMED) else f"{n:032x}"  # others: a trace each
    return Event(
        event_id=f"span-{n}",
        session_id=session,
        parent_id=session,
        event_type="model",
        event_name=f"chat {n}",
        source="tests",
        start_time=1_700_000_000_000 + n,
        end_time=1_700_000_000_000 + n + 5,
        duration=5.0,
        inputs={"chat_history": [{"role": "user", "content": "hello " * 60 * (n % 2)}]},
        outputs={"role": "assistant", "content": f"answer {n}"},
        metadata={"otel": {"trace_id": trace, "span_id": f"{n:016x}"}},
    )


def _job(events: list[Event], traces: dict[str, TraceLink], packed: bool) -> WriteEvents:
    if not packed:
        return WriteEvents("p", list(events), traces=traces)
    return WriteEvents(
        "p",
        PackedEvents.of(msgspec.msgpack.encode(events)),
        traces=traces,
        rows=sqlite_rows(events),
        encoded_by=sqlite_rows,
    )


def _rows(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    packing.register(conn)
    columns = ", ".join(packing.sql_text(c) for c in ("project", *INSERT_COLUMNS))
    rows = conn.execute(f"SELECT {columns} FROM events ORDER BY event_id").fetchall()
    conn.close()
    return rows


def _store(path: Path, packed: bool) -> list[WriteEvents]:
    """Every kind of write on one database; the packed jobs of the last write are returned."""
    store = SqliteStore(str(path))
    store.open()
    try:
        # the trace names its session; an update comes before its event
        first = _job([_span(0, NAMED)], {SESSION: TraceLink(session_id=NAMED)}, packed)
        update = EventUpdate(event_id="span-2", metadata={"rating": 5}, outputs={"done": True})
        assert all(r.error is None for r in store.write([first]))
        assert all(r.error is None for r in store.write([WriteEvents("p", updates=[update])]))
        # one write of a run of jobs: spans of the trace sent without its session (moved to
        # the named one), the event the update waits for, and a plain job between them
        last = [
            _job([_span(1, SESSION), _span(2, SESSION)], {SESSION: TraceLink()}, packed),
            _job([_span(3, "other"), _span(4, "other")], {}, packed),
            WriteEvents("p", [_span(5, "other")]),
            _job([_span(6, "third")], {}, packed),
        ]
        assert all(r.error is None for r in store.write(last))
        # alone: read by its heads only
        alone = _job([_span(7, "fourth"), _span(8, "fourth")], {}, packed)
        assert all(r.error is None for r in store.write([alone]))
        return [*last, alone]
    finally:
        store.close()


def test_packed_events_are_stored_as_listed_events(tmp_path: Path) -> None:
    packed_jobs = _store(tmp_path / "packed.db", packed=True)
    _store(tmp_path / "listed.db", packed=False)
    stored = _rows(tmp_path / "packed.db")
    assert stored == _rows(tmp_path / "listed.db")
    sessions = {row[1]: row[2] for row in stored}
    assert sessions["span-1"] == sessions["span-2"] == NAMED  # moved to the named session
    assert len(stored) == 9 + 4  # the spans, and the placeholders of their sessions
    # the callers' jobs are as they were sent (a merged run works on a copy), and a job
    # written alone was read by its heads only
    *run, alone = packed_jobs
    assert [[e.event_id for e in job.events] for job in run] == [
        ["span-1", "span-2"],
        ["span-3", "span-4"],
        ["span-5"],
        ["span-6"],
    ]
    assert all(e.session_id == SESSION for e in run[0].events)  # not the named session
    assert isinstance(alone._events, PackedEvents) and not alone._events.decoded


def test_heads_are_the_events_fields() -> None:
    events = [_span(n, SESSION) for n in range(3)]
    packed = PackedEvents.of(msgspec.msgpack.encode(events))
    assert packed.heads == [msgspec.convert(e, EventHead, from_attributes=True) for e in events]
    assert len(packed) == 3 and not packed.decoded
    assert list(packed) == events and packed[1] == events[1] and packed.decoded
    job = WriteEvents("p", PackedEvents.of(msgspec.msgpack.encode(events)))
    assert job.size() == 3 and job.heads() == packed.heads
    job.events[0].event_name = "changed"  # once decoded, the heads are the events themselves
    assert job.heads()[0].event_name == "changed"
