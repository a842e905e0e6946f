"""The group-commit writer and the SQLite store's transaction: one failing job never fails its
neighbours, every caller is answered, and only committed data is acknowledged."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from hivelog.event import Event
from hivelog.ingest.writer import Writer
from hivelog.ingest.writer_process import ProcessWriter, SharedWriter
from hivelog.query.filters import compile_query
from hivelog.store.base import JobResult, WriteEvents
from hivelog.store.sqlite import SqliteStore
from tests.helpers import run_alone


def _event(eid: str, start: int = 1000) -> Event:
    return Event(
        event_id=eid,
        session_id="s",
        parent_id="s",
        event_type="tool",
        start_time=start,
        end_time=start,
    )


def _ids(store: SqliteStore, project: str) -> set[str]:
    p = store.find_project(project)
    assert p is not None
    events, _ = store.query_events(p, compile_query("sqlite", None, None, 1000, 1))
    return {e.event_id for e in events}


def test_a_failing_job_fails_alone(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "w.db"))
    store.open()
    try:
        bad = WriteEvents(
            "p", [_event("bad", start=2**70)]
        )  # cannot be stored: too big for INTEGER
        results = store.write(
            [WriteEvents("p", [_event("a")]), bad, WriteEvents("p", [_event("b")])]
        )
        assert [r.error is None for r in results] == [True, False, True]
        assert _ids(store, "p") == {"a", "b", "s"}
    finally:
        store.close()


WRITERS = ("thread", "process")


def _writer(kind: str, store: SqliteStore, **kwargs: Any) -> Writer | ProcessWriter:
    """The group commit in a thread of this process, or in a writer process of its own (as
    the server runs it on SQLite): every test here holds for both."""
    writer: Writer | ProcessWriter
    writer = Writer(store, **kwargs) if kind == "thread" else ProcessWriter(store.path, **kwargs)
    writer.start()
    return writer


@pytest.mark.parametrize("kind", WRITERS)
def test_writer_answers_every_caller(tmp_path: Path, kind: str) -> None:
    store = SqliteStore(str(tmp_path / "w.db"))
    store.open()
    writer = _writer(kind, store, max_batch=50)

    async def main() -> list[BaseException | object]:
        jobs = [
            WriteEvents("p", [_event(f"e{i}", start=2**70 if i % 7 == 0 else 1000)])
            for i in range(200)
        ]
        try:
            return await asyncio.gather(*(writer.submit(j) for j in jobs), return_exceptions=True)
        finally:
            await writer.aclose()

    try:
        results = run_alone(main())
        failed = {i for i, r in enumerate(results) if isinstance(r, BaseException)}
        assert failed == {i for i in range(200) if i % 7 == 0}
        assert _ids(store, "p") == {f"e{i}" for i in range(200) if i % 7} | {"s"}
    finally:
        store.close()


@pytest.mark.parametrize("kind", WRITERS)
def test_search_index_keeps_up_with_writes_that_never_pause(tmp_path: Path, kind: str) -> None:
    """Writes every 20 ms never leave the writer idle for its upkeep pause (0.25 s); the search
    index must still be filled, by the upkeep's bounded share of the writer's time."""
    store = SqliteStore(str(tmp_path / "w.db"))
    store.open()
    writer = _writer(kind, store)

    async def steady() -> None:
        try:
            for i in range(100):  # ~2 s of writes, 20 ms apart
                event = _event(f"e{i}")
                event.inputs = {"text": f"steady write number {i}"}
                await writer.submit(WriteEvents("p", [event]))
                await asyncio.sleep(0.02)
        finally:
            await writer.aclose()

    try:
        run_alone(steady())
        conn = store._conn_w()
        (mark,) = conn.execute("SELECT indexed_seq FROM search_state").fetchone()
        (last,) = conn.execute("SELECT max(seq) FROM events").fetchone()
        assert last - mark <= 10, (mark, last)  # within a few writes of the newest row
    finally:
        store.close()


def test_a_shared_writer_answers_each_worker_in_its_own_order(tmp_path: Path) -> None:
    """`serve --workers N` on SQLite: workers' jobs interleave in the one writer process's
    groups; each worker's callers get their own results (a failing job fails its own caller
    only); a worker that goes away leaves the others writing; `stop` ends the process and
    removes the socket's directory."""
    store = SqliteStore(str(tmp_path / "w.db"))
    store.open()
    shared = SharedWriter(store.path, max_batch=50)
    shared.start()
    workers = [ProcessWriter(store.path, address=shared.address) for _ in range(2)]

    async def main() -> tuple[list[JobResult | BaseException], list[JobResult]]:
        jobs = [
            WriteEvents("p", [_event(f"e{i}", start=2**70 if i % 7 == 0 else 1000)])
            for i in range(200)
        ]
        results = await asyncio.gather(
            *(workers[i % 2].submit(job) for i, job in enumerate(jobs)), return_exceptions=True
        )
        gone = workers[0]._transport
        assert gone is not None
        gone.abort()  # the first worker dies; the second goes on
        after = await asyncio.gather(
            *(workers[1].submit(WriteEvents("p", [_event(f"after{i}")])) for i in range(20))
        )
        await workers[1].aclose()
        return results, after

    try:
        results, after = run_alone(main())
        failed = {i for i, r in enumerate(results) if isinstance(r, BaseException)}
        assert failed == {i for i in range(200) if i % 7 == 0}
        assert all(r.error is None for r in after)
        written = {f"e{i}" for i in range(200) if i % 7} | {f"after{i}" for i in range(20)}
        assert _ids(store, "p") == written | {"s"}
    finally:
        shared.stop()
        store.close()
    assert not shared._thread.is_alive()  # its writer process ended, and was not replaced
    assert not Path(shared.address).parent.exists()
