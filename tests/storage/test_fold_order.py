"""Updates parked before their event are folded into it as it is inserted, and the stored rows
are byte for byte those of the updates arriving after their event, on SQLite and PostgreSQL:
new events, a repeat of one in the same write, a real session replacing its placeholder, an
event stored before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hivelog.event import Event, EventUpdate
from hivelog.normalize.ids import span_event_id
from hivelog.normalize.logs import logs_to_updates
from hivelog.settings import Settings
from hivelog.store import open_store
from hivelog.store.base import Store, WriteEvents
from hivelog.store.rows import INSERT_COLUMNS
from hivelog.store.sqlite import SqliteStore
from hivelog.wire.otlp import LogIn
from tests.conftest import new_database

TRACE, SPAN, SESSION = "ab" * 16, "cd" * 8, "5e55105e-0000-4000-8000-000000000001"
EVENT = span_event_id(TRACE, SPAN)
BASE = 1_700_000_000_000_000_000


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        new_database(request.param, tmp_path / "a") as a,
        new_database(request.param, tmp_path / "b") as b,
    ):
        pair = (open_store(Settings(db=a)), open_store(Settings(db=b)))
        for s in pair:
            s.open()
        try:
            yield pair
        finally:
            for s in pair:
                s.close()


def _record(n: int, name: str, body: object) -> LogIn:
    return LogIn(TRACE, SPAN, BASE + n, 9, "", name, body, {}, {}, "t")


def _records() -> list[EventUpdate]:
    records = [
        _record(1, "gen_ai.user.message", {"content": "hi — 日本"}),
        _record(2, "gen_ai.choice", {"index": 0, "message": {"content": "A"}}),
        _record(3, "app.step", {"step": 3}),
    ]
    return logs_to_updates(records, "p").updates["p"]


def _event(event_id: str, session: str, **fields: Any) -> Event:
    return Event(
        event_id=event_id,
        session_id=session,
        parent_id=session,
        event_type="model",
        start_time=1_000,
        end_time=1_500,
        duration=500.0,
        config={"model": "gpt-4o-mini"},
        metadata={"prompt_tokens": 10, "completion_tokens": 5},
        **fields,
    )


def _session() -> Event:
    return Event(
        event_id=SESSION, session_id=SESSION, parent_id=None, event_type="session", start_time=900
    )


def _updates() -> list[EventUpdate]:
    return [
        *_records(),
        EventUpdate(event_id=EVENT, metadata={"score": 0.5}, end_time=1_700),
        EventUpdate(event_id=SESSION, metadata={"user": "u1"}, feedback={"rating": 4}),
        EventUpdate(event_id="stored-before", outputs={"content": "replaced"}),
    ]


def _rows(store: Store) -> list[tuple[Any, ...]]:
    """Every stored column but the row's own number, as stored, ordered by event id."""
    columns = ", ".join(c for c in INSERT_COLUMNS)
    sql = f"SELECT {columns} FROM events ORDER BY project, event_id"
    if isinstance(store, SqliteStore):
        return store._conn_w().execute(sql).fetchall()
    with store._write_pool().connection() as conn:  # type: ignore[attr-defined]
        return conn.execute(sql).fetchall()  # type: ignore[no-any-return]


def _count(store: Store, sql: str) -> Any:
    if isinstance(store, SqliteStore):
        return store._conn_w().execute(sql).fetchone()
    with store._write_pool().connection() as conn:  # type: ignore[attr-defined]
        return conn.execute(sql).fetchone()


def _write(store: Store, job: WriteEvents) -> None:
    [result] = store.write([job])
    assert result.error is None


def test_parked_updates_fold_into_the_insert_as_they_would_after_it(
    stores: tuple[Store, Store],
) -> None:
    after, before = stores
    stored_before = _event("stored-before", "other-session")
    child = _event("child", SESSION)
    twice = [_event(EVENT, SESSION), _event(EVENT, SESSION, error="a resend differs")]
    for store in stores:
        _write(store, WriteEvents("p", events=[stored_before]))
    # events first, then their updates
    _write(after, WriteEvents("p", events=[child]))  # the session is a placeholder
    _write(after, WriteEvents("p", events=[_session(), *twice, stored_before]))
    _write(after, WriteEvents("p", updates=_updates()))
    # the updates first: parked (the session's applied to its placeholder and kept parked)
    _write(before, WriteEvents("p", updates=_updates()))
    _write(before, WriteEvents("p", events=[child]))
    _write(before, WriteEvents("p", events=[_session(), *twice, stored_before]))
    assert _rows(before) == _rows(after)
    left = _count(before, "SELECT count(*) FROM pending_updates")
    assert tuple(left) == (0,)  # every parked update reached a real event and was dropped
    (history,) = _count(before, f"SELECT inputs FROM events WHERE event_id = '{EVENT}'")
    assert history is not None  # the records' chat history, folded in
