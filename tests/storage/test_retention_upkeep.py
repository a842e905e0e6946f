"""Retention removes what expired sessions leave behind, not only their events.

- updates parked for an event that never came (with a project, and with none: UNRESOLVED)
  expire once older than the retention window;
- the trace → session mappings of expired sessions (OTLP spans that named a session) go with
  them, and a young trace's mapping stays.

SQLite and PostgreSQL: ClickHouse keeps neither parked rows nor a mapping table (append-only
patches, day partitions dropped whole; tests/storage/test_retention.py covers it).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from tests.conftest import Server, backend_fixture
from tests.otlp.otlp_helpers import PROTOBUF, new_span, new_trace, pb_request, pb_span

backend = backend_fixture(("sqlite", "postgres"))

DAY_MS = 86_400_000


def _sql(database: str) -> Callable[[str], list[tuple[Any, ...]]]:
    """Run one statement on the server's database, as an operator's shell would."""

    def run(statement: str) -> list[tuple[Any, ...]]:
        if database.startswith("postgresql://"):
            with psycopg.connect(database, autocommit=True) as pg:
                cur = pg.execute(statement)
                return cur.fetchall() if cur.description else []
        with sqlite3.connect(database, isolation_level=None) as lite:
            return lite.execute(statement).fetchall()

    return run


def _traced_session(client: httpx.Client, project: str, start_ms: int) -> str:
    """A trace whose child span names a session (OpenInference's `session.id`)."""
    session, trace, root = str(uuid.uuid4()), new_trace(), new_span()
    spans = [
        pb_span(trace, root, "agent", start_ns=start_ms * 1_000_000),
        pb_span(
            trace,
            new_span(),
            "llm",
            {"session.id": session},
            parent=root,
            start_ns=start_ms * 1_000_000 + 1_000,
        ),
    ]
    r = client.post(
        "/v1/traces", content=pb_request(spans, {"honeyhive.project": project}), headers=PROTOBUF
    )
    assert r.status_code == 200, r.text
    return session


def test_retention_expires_parked_updates_and_trace_mappings(fresh_database: str) -> None:
    project = f"upkeep-{uuid.uuid4().hex[:8]}"
    now = int(time.time() * 1000)
    sql = _sql(fresh_database)
    srv = Server(fresh_database)
    srv.start()
    try:
        with srv.client() as c:
            old_session = _traced_session(c, project, now - 40 * DAY_MS)
            young_session = _traced_session(c, project, now - DAY_MS)
            for body in (
                {"event_id": str(uuid.uuid4()), "project": project, "metadata": {"late": 1}},
                {"event_id": str(uuid.uuid4()), "metadata": {"unprojected": 1}},
            ):
                assert c.put("/events", json=body).status_code == 200
            # young parked updates stay
            kept = {"event_id": str(uuid.uuid4()), "project": project, "metadata": {"kept": 1}}
            assert c.put("/events", json=kept).status_code == 200
        srv.stop()
        mapped = {r[0] for r in sql("SELECT session_id FROM trace_sessions")}
        assert mapped == {old_session, young_session}
        assert len(sql("SELECT 1 FROM pending_updates")) == 3
        # Two of the parked updates were received 40 days ago.
        sql(
            f"UPDATE pending_updates SET received_at = {now - 40 * DAY_MS} "
            f"WHERE body NOT LIKE '%kept%'"
        )
        srv.extra_args = ["--retention-days", "30"]
        srv.start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            parked = sql("SELECT body FROM pending_updates")
            mapped = {r[0] for r in sql("SELECT session_id FROM trace_sessions")}
            if len(parked) == 1 and mapped == {young_session}:
                break
            time.sleep(0.2)
        assert len(parked) == 1 and "kept" in parked[0][0], (parked, srv.log())
        assert mapped == {young_session}, srv.log()
        with srv.client() as c:
            gone = c.get(f"/v1/sessions/{old_session}", params={"project": project})
            assert gone.status_code == 404
            here = c.get(f"/v1/sessions/{young_session}", params={"project": project})
            assert here.status_code == 200, here.text
    finally:
        srv.stop()
