"""SQLite's search index is filled behind the writes and stays exact.

A search finds new rows at once (they are scanned above the indexed mark) and the same rows
once `background_work` has indexed them; updates and deletes of indexed rows keep the FTS5
index equal to its content table: old text is no longer found, new text is.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from hivelog.event import Event, EventUpdate
from hivelog.store.base import DeleteSession, EventQuery, WriteEvents
from hivelog.store.sqlite import SqliteStore

TEXTS = ("東京の天気は晴れです", "Как вернуть товар?", "Where is my order 4417?", "我的包裹在哪里")
# Long enough that inputs are stored packed (store/packing.py): every test runs on both forms.
PADDING = {"short": "", "packed": " lorem ipsum dolor sit amet" * 20}


@pytest.fixture(params=sorted(PADDING))
def padding(request: pytest.FixtureRequest) -> str:
    return PADDING[request.param]


@pytest.fixture()
def store(tmp_path: Path, padding: str) -> SqliteStore:
    s = SqliteStore(str(tmp_path / "search.db"))
    s.open()
    s.padding = padding  # type: ignore[attr-defined]
    yield s  # type: ignore[misc]
    s.close()


def write(store: SqliteStore, session_id: str, texts: tuple[str, ...]) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in texts]
    events = [
        Event(
            event_id=eid, session_id=session_id, parent_id=session_id, event_type="model",
            start_time=1_000 + k,
            inputs={"chat_history": [{"role": "user", "content": text + store.padding}]},
            outputs={"content": f"answer {k}"},
        )
        for k, (eid, text) in enumerate(zip(ids, texts, strict=True))
    ]  # fmt: skip
    [result] = store.write([WriteEvents("p", events=events)])
    assert result.error is None
    return ids


def found(store: SqliteStore, text: str) -> set[str]:
    project = store.find_project("p")
    assert project is not None
    events, total = store.query_events(project, EventQuery("", [], 100, 0, search=text))
    assert total == len(events)
    return {e.event_id for e in events}


def index_all(store: SqliteStore) -> None:
    for _ in range(1000):
        if not store.background_work():
            break
    conn = store._conn_w()
    (mark,) = conn.execute("SELECT indexed_seq FROM search_state").fetchone()
    assert mark == conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
    assert conn.execute("SELECT count(*) FROM search_stale").fetchone() == (0,)
    assert_index_matches_content(conn)


def assert_index_matches_content(conn: sqlite3.Connection) -> None:
    """The index holds exactly the trigrams of every row's text as it reads (unpacked): each
    term in as many rows as a fresh index of that text has it in. (FTS5's own
    'integrity-check' compares with the stored column, which is packed.)"""
    conn.executescript(
        "CREATE VIRTUAL TABLE temp.fresh USING "
        "fts5(inputs, outputs, tokenize='trigram', detail=none);"
        "CREATE VIRTUAL TABLE temp.fresh_terms USING fts5vocab(temp, fresh, row);"
        "CREATE VIRTUAL TABLE temp.index_terms USING fts5vocab(main, events_fts, row);"
    )
    try:
        conn.execute(
            "INSERT INTO temp.fresh (rowid, inputs, outputs) "
            "SELECT seq, unpack(inputs), unpack(outputs) FROM events "
            "WHERE inputs IS NOT NULL OR outputs IS NOT NULL"
        )
        fresh = conn.execute("SELECT term, doc FROM temp.fresh_terms ORDER BY term").fetchall()
        index = conn.execute("SELECT term, doc FROM temp.index_terms ORDER BY term").fetchall()
        assert index == fresh
    finally:
        conn.executescript(
            "DROP TABLE temp.fresh; DROP TABLE temp.fresh_terms; DROP TABLE temp.index_terms;"
        )


def test_found_before_and_after_indexing(store: SqliteStore) -> None:
    sid = str(uuid.uuid4())
    ids = write(store, sid, TEXTS)
    queries = {"東京の天気": ids[0], "вернуть": ids[1], "ORDER 4417": ids[2], "包裹": ids[3]}
    for query, expected in queries.items():
        assert found(store, query) == {expected}, query  # not indexed yet: scanned
    index_all(store)
    for query, expected in queries.items():
        assert found(store, query) == {expected}, query  # from the index
    assert found(store, "ВЕРНУТЬ") == {ids[1]}  # the index folds Cyrillic case too
    assert found(store, "晴れ 東京") == {ids[0]}  # every word, in any order
    assert found(store, "東京 вернуть") == set()


def test_updates_and_deletes_keep_the_index_exact(store: SqliteStore) -> None:
    sid = str(uuid.uuid4())
    ids = write(store, sid, TEXTS)
    index_all(store)
    # replace the outputs of an indexed event: the old text is gone, the new one found
    upd = EventUpdate(event_id=ids[2], outputs={"content": "shipped by drone"})
    [result] = store.write([WriteEvents("p", updates=[upd])])
    assert result.error is None
    assert found(store, "answer 2") == set()
    assert found(store, "by drone") == {ids[2]}
    index_all(store)
    # delete the session, which holds the newest rows: the mark comes down with them, so
    # rows that get the freed seq numbers are still indexed
    store.write([DeleteSession("p", sid)])
    assert found(store, "東京の天気") == set()
    index_all(store)
    newer = write(store, str(uuid.uuid4()), ("東京の天気 again",))
    assert found(store, "東京の天気") == set(newer)
    index_all(store)
    assert found(store, "東京の天気") == set(newer)


def test_changed_rows_are_found_before_and_after_reindexing(store: SqliteStore) -> None:
    """A changed indexed row leaves the index at once and comes back with the upkeep: found by
    its new text, never by its old, whether or not the upkeep has run, however many times it
    changed in between; deleting it before the upkeep leaves the index exact."""
    sid = str(uuid.uuid4())
    ids = write(store, sid, TEXTS)
    index_all(store)
    for n, text in enumerate(("first drone", "second drone", "third drone")):
        upd = EventUpdate(event_id=ids[2], outputs={"content": text})
        [result] = store.write([WriteEvents("p", updates=[upd])])
        assert result.error is None
        assert found(store, text) == {ids[2]}
        assert found(store, "answer 2") == set()
        stale = store._conn_w().execute("SELECT count(*) FROM search_stale").fetchone()
        assert stale == (1,)  # re-indexed by the upkeep, not in the write
        if n == 1:
            index_all(store)  # re-indexed as "second drone"; the next change removes that
    assert found(store, "second drone") == set()
    index_all(store)
    assert found(store, "third drone") == {ids[2]}
    assert found(store, "ORDER 4417") == {ids[2]}
    upd = EventUpdate(event_id=ids[1], outputs={"content": "stale then deleted"})
    store.write([WriteEvents("p", updates=[upd])])
    store.write([DeleteSession("p", sid)])
    assert found(store, "stale then") == set()
    index_all(store)
