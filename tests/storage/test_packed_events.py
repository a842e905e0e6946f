"""Events a conversion worker sends packed (`PackedEvents`, with their rows) are stored as the
same events sent as a list: on the hot path the store reads only their heads, and whatever
rewrites an event (a trace moved to the session it named, updates parked before their event
folded on, runs of jobs merged) decodes them first. The oracle is the same writes with plain
lists of events, on SQLite, PostgreSQL and ClickHouse (`chdb:`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from hivelog.event import Event, EventHead, EventUpdate, PackedEvents, TraceLink
from hivelog.normalize.ids import trace_session_id
from hivelog.settings import Settings
from hivelog.store import open_store
from hivelog.store.base import Store, WriteEvents
from tests.conftest import new_database

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


Encoder = Callable[[list[Event]], list[Any]]


def _job(
    events: list[Event], traces: dict[str, TraceLink], encode_rows: Encoder | None
) -> WriteEvents:
    """A job of listed events, or (with the store's encoder) packed as a worker sends them."""
    if encode_rows is None:
        return WriteEvents("p", list(events), traces=traces)
    return WriteEvents(
        "p",
        PackedEvents.of(msgspec.msgpack.encode(events)),
        traces=traces,
        rows=encode_rows(events),
        encoded_by=encode_rows,
    )


def _stored(store: Store) -> bytes:
    """Every session's events as the store gives them back."""
    project = store.find_project("p")
    assert project is not None
    sessions = [NAMED, "other", "third", "fourth"]
    return msgspec.json.encode([store.session_events(project, s) for s in sessions])


def _write_all(store: Store, packed: bool) -> list[WriteEvents]:
    """Every kind of write on one database; the packed jobs of the last writes are returned."""
    encode = store.encode_rows if packed else None
    # the trace names its session; an update comes before its event
    first = _job([_span(0, NAMED)], {SESSION: TraceLink(session_id=NAMED)}, encode)
    update = EventUpdate(event_id="span-2", metadata={"rating": 5}, outputs={"done": True})
    assert all(r.error is None for r in store.write([first]))
    assert all(r.error is None for r in store.write([WriteEvents("p", updates=[update])]))
    # one write of a run of jobs: spans of the trace sent without its session (moved to the
    # named one), the event the update waits for, and a plain job between them
    last = [
        _job([_span(1, SESSION), _span(2, SESSION)], {SESSION: TraceLink()}, encode),
        _job([_span(3, "other"), _span(4, "other")], {}, encode),
        WriteEvents("p", [_span(5, "other")]),
        _job([_span(6, "third")], {}, encode),
    ]
    assert all(r.error is None for r in store.write(last))
    # alone: read by its heads only
    alone = _job([_span(7, "fourth"), _span(8, "fourth")], {}, encode)
    assert all(r.error is None for r in store.write([alone]))
    return [*last, alone]


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "chdb"])
def test_packed_events_are_stored_as_listed_events(backend: str, tmp_path: Path) -> None:
    stored: dict[bool, bytes] = {}
    for packed in (True, False):
        (tmp_path / str(packed)).mkdir()
        with new_database(backend, tmp_path / str(packed), served=False) as db:
            store = open_store(Settings(db=db))
            store.open()
            try:
                jobs = _write_all(store, packed)
                stored[packed] = _stored(store)
            finally:
                store.close()
        if packed:
            packed_jobs = jobs
    assert stored[True] == stored[False]
    named = msgspec.json.decode(stored[True])[0]
    assert {"span-0", "span-1", "span-2"} <= {e["event_id"] for e in named}  # moved there
    assert [e["metadata"].get("rating") for e in named if e["event_id"] == "span-2"] == [5]
    # the callers' jobs hold what they were sent (a merged run works on a copy), and a job
    # written alone was read by its heads only
    *run, alone = packed_jobs
    assert [[e.event_id for e in job.events] for job in run] == [
        ["span-1", "span-2"],
        ["span-3", "span-4"],
        ["span-5"],
        ["span-6"],
    ]
    if backend != "chdb":  # ClickHouse merges no runs: it relinks the jobs themselves
        assert all(e.session_id == SESSION for e in run[0].events)  # not the named session
    if backend != "postgres":  # its insert shares whole events with its COPY fallback
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
