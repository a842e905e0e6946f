"""Under writes that never pause, SQLite's WAL stays bounded.

The checkpointer copies the WAL into the database with PASSIVE checkpoints, which never block
the writer; but SQLite starts the WAL over only when a write begins after a checkpoint that
copied *every* frame, and with commits every few milliseconds each pass ends behind the
newest frames: the WAL grew for as long as writes kept coming (750 MB over a long bulk load).
Past `wal_limit` bytes the checkpointer now takes a RESTART checkpoint, which waits for the
writer's transaction in flight and starts the WAL over.

The writes here come back to back from one thread (the writer's own pattern under load),
for a bounded time, and the WAL is sampled between them."""

from __future__ import annotations

import os
import time
from pathlib import Path

from hivelog.event import Event
from hivelog.store.base import WriteEvents
from hivelog.store.sqlite import SqliteStore

LIMIT = 2 * 1024 * 1024  # bytes: small, so a few seconds of writes cross it many times over
RESTARTS = 3  # the writes go on until the WAL has been started over this many times
SHARE = 3  # ... and until the WAL has never held more than a third of what was written
WRITES = 1200  # at most; each ~200 events of ~1 KB (~400 suffice on an idle machine)
SECONDS = 120.0  # at most; the WAL crosses LIMIT within the first second here


def _batch(n: int) -> list[Event]:
    sid = f"session-{n:05d}"
    return [
        Event(
            event_id=f"event-{n:05d}-{i:03d}",
            session_id=sid,
            parent_id=sid,
            event_type="tool",
            event_name=f"call {i}",
            source="tests",
            start_time=1_700_000_000_000 + 1000 * n + i,
            end_time=1_700_000_000_000 + 1000 * n + i + 5,
            duration=5.0,
            inputs={"question": f"what is {n}/{i}? " + os.urandom(400).hex()},
            outputs={"answer": i},
        )
        for i in range(200)
    ]


def test_wal_stays_bounded_under_writes_that_never_pause(tmp_path: Path) -> None:
    path = tmp_path / "bound.db"
    wal = Path(f"{path}-wal")
    store = SqliteStore(str(path))
    store.wal_limit = LIMIT
    store.open()
    sizes: list[int] = []
    appended = restarts = written = 0  # WAL bytes written (as the file shows them)
    try:
        deadline = time.monotonic() + SECONDS
        for n in range(WRITES):
            [result] = store.write([WriteEvents("p", _batch(n))])
            assert result.error is None
            written += 200
            before = sizes[-1] if sizes else 0
            sizes.append(wal.stat().st_size if wal.exists() else 0)
            # SQLite truncates the WAL file back to the limit (journal_size_limit) only when
            # it starts the WAL over, so each drop between two samples is a restart.
            if sizes[-1] < before:
                restarts += 1
                appended += sizes[-1]
            else:
                appended += sizes[-1] - before
            # How much a checkpoint period's writes add depends on the machine's speed and
            # load, so the writes go on until the evidence is in: enough restarts, and far
            # more written than the WAL ever held.
            if restarts >= RESTARTS and max(sizes) * SHARE <= appended:
                break
            if time.monotonic() > deadline:
                break
    finally:
        store.close()
    crossed = sum(1 for s in sizes if s > LIMIT)
    assert crossed, f"the writes never made the WAL pass {LIMIT} bytes: the test proves nothing"
    # Without restarts the WAL grows with every write (92 MB after 400 of these, here).
    assert restarts >= RESTARTS, (
        f"the WAL was started over {restarts} times while {written:,} events were written back "
        f"to back; it grew to {max(sizes):,} bytes (limit {LIMIT:,})"
    )
    # Between restarts it holds what a few checkpoint periods of writes add: a small part of
    # all that was written (a WAL that never started over holds all of it).
    assert max(sizes) * SHARE <= appended, (
        f"the WAL grew to {max(sizes):,} bytes while {appended:,} were written to it"
    )
