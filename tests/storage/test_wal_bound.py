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

import itertools
import os
import time
from pathlib import Path

from hivelog.event import Event
from hivelog.store.base import WriteEvents
from hivelog.store.sqlite import SqliteStore

LIMIT = 2 * 1024 * 1024  # bytes: small, so a few seconds of writes cross it many times over
WRITES = 400  # at most; each ~200 events of ~1 KB
SECONDS = 60.0  # at most; the WAL crosses LIMIT within the first second here


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
    try:
        deadline = time.monotonic() + SECONDS
        written = 0
        for n in range(WRITES):
            [result] = store.write([WriteEvents("p", _batch(n))])
            assert result.error is None
            written += 200
            sizes.append(wal.stat().st_size if wal.exists() else 0)
            if time.monotonic() > deadline:
                break
    finally:
        store.close()
    crossed = sum(1 for s in sizes if s > LIMIT)
    assert crossed, f"the writes never made the WAL pass {LIMIT} bytes: the test proves nothing"
    # SQLite truncates the WAL file back to the limit (journal_size_limit) only when it starts
    # the WAL over, so each drop between two samples is a restart. Without them the WAL
    # grows with every write (92 MB after these writes, here).
    restarts = sum(1 for a, b in itertools.pairwise(sizes) if b < a)
    assert restarts >= 3, (
        f"the WAL was started over {restarts} times while {written:,} events were written back "
        f"to back; it grew to {max(sizes):,} bytes (limit {LIMIT:,})"
    )
    # Between restarts it holds at most what a few checkpoint periods of writes add
    # (~20 MB here with this limit).
    assert max(sizes) < 32 * LIMIT, f"the WAL grew to {max(sizes):,} bytes"
