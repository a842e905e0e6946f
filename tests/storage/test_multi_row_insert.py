"""SQLite writes a job's events and placeholder sessions as multi-row INSERTs (256, 64, 16, 4
or 1 rows per statement, `store/sqlite/connection.insert_rows`): the stored rows must be those
of one INSERT per row, whatever chunk a row falls in. The oracle is the same events written
one per job (a job of one event is one single-row INSERT): resends of an id in the job (the
first wins), a real session start replacing its placeholder in the same job, placeholders
spanning all of their events, and a job crossing every chunk size."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import msgspec

from hivelog.event import Event
from hivelog.store import packing
from hivelog.store.base import WriteEvents
from hivelog.store.rows import INSERT_COLUMNS
from hivelog.store.sqlite import SqliteStore

SIZE = 256 + 64 + 16 + 4 + 1 + 3  # every chunk size, and a remainder of ones


def _event(i: int, *, event_id: str | None = None, session: int | None = None) -> Event:
    sid = f"session-{(i // 3) if session is None else session:04d}"
    return Event(
        event_id=event_id or f"event-{i:04d}",
        session_id=sid,
        parent_id=sid,
        event_type="tool",
        event_name=f"call {i}",
        source="tests",
        start_time=1_700_000_000_000 + 7 * i,
        end_time=1_700_000_000_000 + 7 * i + 5,
        duration=5.0,
        inputs={"question": f"what is {i}? " + "long text " * 40 * (i % 2)},  # packed or not
        outputs={"answer": i},
    )


def _events() -> list[Event]:
    events = [_event(i) for i in range(SIZE)]
    # resends of ids earlier in the job, in other chunks: the first of each wins
    events[200] = msgspec.structs.replace(_event(100), event_name="resent")  # the same chunk
    events[300] = msgspec.structs.replace(_event(5), event_name="resent")
    events[330] = msgspec.structs.replace(_event(299), event_name="resent")
    # a session started in the same job, after an event that named it (its placeholder came
    # first in the list of what the job implies)
    events[335] = msgspec.structs.replace(
        _event(335, event_id="session-0010", session=10),
        event_type="session",
        parent_id=None,
        event_name="the real start",
    )
    return events


def _rows(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    packing.register(conn)
    columns = ", ".join(packing.sql_text(c) for c in ("project", *INSERT_COLUMNS))
    rows = conn.execute(f"SELECT {columns} FROM events ORDER BY event_id").fetchall()
    conn.close()
    return rows


def test_multi_row_inserts_store_what_single_row_inserts_store(tmp_path: Path) -> None:
    together, one_by_one = tmp_path / "together.db", tmp_path / "one-by-one.db"
    a, b = SqliteStore(str(together)), SqliteStore(str(one_by_one))
    a.open()
    b.open()
    try:
        [result] = a.write([WriteEvents("p", _events())])
        assert result.error is None
        for event in _events():
            [result] = b.write([WriteEvents("p", [event])])
            assert result.error is None
    finally:
        a.close()
        b.close()
    stored = _rows(together)
    assert stored == _rows(one_by_one)
    by_id = {row[1]: row for row in stored}
    name = 1 + INSERT_COLUMNS.index("event_name")
    assert by_id["event-0100"][name] == "call 100"  # the first of a resent id
    assert by_id["event-0005"][name] == "call 5"
    assert by_id["event-0299"][name] == "call 299"
    assert by_id["session-0010"][name] == "the real start"  # the start replaced its placeholder
    sessions = {row[1] for row in stored if row[1].startswith("session-")}
    assert len(sessions) == len({e.session_id for e in _events()})  # one row per session
    assert len(stored) == SIZE - 3 + len(sessions) - 1  # three resends; one session is real
