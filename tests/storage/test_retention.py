"""`--retention-days N` deletes sessions older than N days with all their events, on both backends.

Old sessions are written to a running server, which is then restarted with retention on:
the first pass runs a second after start. More old sessions than one step deletes are
written (SQLite steps by 100 sessions), so the pass must loop over bounded chunks. On
PostgreSQL the old days' partitions must be gone as whole tables.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import psycopg

from tests.conftest import Server

DAY_MS = 86_400_000


def _events(project: str, start: int, sessions: int) -> tuple[list[str], list[dict[str, Any]]]:
    """`sessions` sessions, each known only through two events (placeholder sessions)."""
    sids, events = [], []
    for i in range(sessions):
        sid = str(uuid.uuid4())
        sids.append(sid)
        parent = str(uuid.uuid4())
        for k, eid in enumerate((parent, str(uuid.uuid4()))):
            events.append(
                {
                    "session_id": sid,
                    "event_id": eid,
                    "parent_id": parent if k else None,
                    "event_type": "tool",
                    "start_time": start + i * 1000 + k,
                    "inputs": {"i": i},
                }
            )
    return sids, events


def _post(client: httpx.Client, project: str, events: list[dict[str, Any]]) -> None:
    for i in range(0, len(events), 100):
        r = client.post("/events/batch", json={"project": project, "events": events[i : i + 100]})
        assert r.status_code == 200, r.text


def _count(client: httpx.Client, project: str) -> int:
    r = client.post("/events/export", json={"project": project, "limit": 7500})
    assert r.status_code == 200, r.text
    total: int = r.json()["totalEvents"]
    return total


def test_retention_deletes_old_sessions_with_their_events(
    fresh_database: str, backend: str
) -> None:
    project = f"ret-{uuid.uuid4().hex[:8]}"
    now = int(time.time() * 1000)
    old_sids, old = _events(project, now - 40 * DAY_MS, 150)
    older_sids, older = _events(project, now - 300 * DAY_MS, 3)
    kept_sids, kept = _events(project, now - 29 * DAY_MS, 20)
    new_sids, new = _events(project, now - DAY_MS // 2, 20)
    srv = Server(fresh_database)
    srv.start()
    try:
        with srv.client() as c:
            _post(c, project, old + older + kept + new)
            # A session started long ago whose later events arrive now is still old.
            r = c.post(
                "/session/start",
                json={"session": {"project": project, "start_time": now - 31 * DAY_MS}},
            )
            assert r.status_code == 200
            late_sid = r.json()["session_id"]
            child = {"project": project, "session_id": late_sid, "event_type": "chain",
                     "event_id": str(uuid.uuid4())}  # fmt: skip
            assert c.post("/events", json={"event": child}).status_code == 200
            assert _count(c, project) == 3 * (150 + 3 + 20 + 20) + 2
        srv.stop()
        srv.extra_args = ["--retention-days", "30"]
        srv.start()
        deadline = time.monotonic() + 60
        with srv.client() as c:
            remaining = -1
            while time.monotonic() < deadline:
                remaining = _count(c, project)
                if remaining == 3 * 40:
                    break
                time.sleep(0.2)
            assert remaining == 3 * 40, srv.log()  # kept and new: 2 events + their session each
            for sid in [*old_sids, *older_sids, late_sid]:
                assert c.get(f"/v1/sessions/{sid}", params={"project": project}).status_code == 404
            for sid in kept_sids + new_sids:
                r = c.get(f"/v1/sessions/{sid}", params={"project": project})
                assert r.status_code == 200
                assert len(r.json()["children"]) == 1
                assert len(r.json()["children"][0]["children"]) == 1
            # New writes keep working after the pass, including to days just dropped.
            _post(c, project, _events(project, now, 2)[1])
            assert _count(c, project) == 3 * 40 + 3 * 2
            # An expired event's id is free again, as if never stored: dated now, in a new
            # session, it is stored (from a dropped day, and from an old session's young row).
            again = [
                {**e, "session_id": str(uuid.uuid4()), "start_time": now, "parent_id": None}
                for e in (old[0], older[0], child)
            ]
            _post(c, project, again)
            assert _count(c, project) == 3 * 40 + 3 * 2 + 2 * 3  # each with its session
    finally:
        srv.stop()
    if backend == "postgres":
        with psycopg.connect(fresh_database) as conn:
            days = [
                r[0]
                for r in conn.execute(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'events'::regclass ORDER BY 1"
                )
            ]
        cutoff = time.strftime("events_p%Y%m%d", time.gmtime((now - 30 * DAY_MS) / 1000))
        assert days and all(d >= cutoff for d in days), days
