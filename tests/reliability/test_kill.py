"""Nothing acknowledged is lost: SIGKILL the server at random moments under full load (REST
batches and OTLP spans), restart it, and check every event that got a 2xx is stored exactly
once and (SQLite) the database passes `PRAGMA integrity_check`."""

from __future__ import annotations

import collections
import random
import signal
import sqlite3
import time
import uuid

from tests.conftest import Server
from tests.reliability.load import Load, kills, stored_ids


def test_sigkill_under_load_loses_no_acknowledged_event(fresh_database: str) -> None:
    srv = Server(fresh_database)
    srv.start()
    project = f"kill-{uuid.uuid4().hex[:8]}"
    load = Load(srv.url, project, threads=2)
    began = time.monotonic()
    load.start()
    rng = random.Random()
    crashes = 0
    try:
        for _ in range(kills()):
            time.sleep(rng.uniform(0.2, 0.8))
            srv.stop(signal.SIGKILL)
            crashes += 1
            srv.start()
    finally:
        load.stop()
    loaded = time.monotonic()
    load.drain(srv.url)
    with srv.client() as c:
        ids = stored_ids(c, project)
    checked = time.monotonic()
    srv.stop()
    counts = collections.Counter(ids)
    acked = load.tally.acked
    missing = [i for i in acked if counts[i] == 0]
    doubled = [i for i, n in counts.items() if n > 1]
    print(
        f"\nkill test: {crashes} SIGKILLs, {load.tally.requests_acked} requests and "
        f"{len(acked)} events acknowledged, {load.tally.failed} requests cut, "
        f"{len(ids)} events stored, {len(missing)} missing, {len(doubled)} stored twice "
        f"({loaded - began:.1f} s under load, {checked - loaded:.1f} s to verify)"
    )
    assert crashes == kills()
    assert load.tally.failed > 0, "no request was ever cut: the kills missed the load"
    assert len(acked) > 1000
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {missing[:3]}"
    assert not doubled, f"events stored more than once: {doubled[:3]}"
    if "://" not in fresh_database:
        with sqlite3.connect(fresh_database) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            dup = conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM events GROUP BY project, event_id "
                "HAVING count(*) > 1)"
            ).fetchone()[0]
            assert dup == 0
