"""What is particular to the ClickHouse store: its URLs, its client-side parameter binding,
and the differences docs/scaling.md documents, each shown on the embedded engine."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from hivelog.store.clickhouse.transport import bind, display, http_options, literal
from tests.conftest import Server, new_database
from tests.security.keyed import create_key, hivelog


def test_urls_name_host_database_credentials_and_tls() -> None:
    plain = http_options("clickhouse://ch.internal/hivelog")
    assert (plain["host"], plain["port"], plain["database"], plain["secure"]) == (
        "ch.internal",
        8123,
        "hivelog",
        False,
    )
    assert plain["username"] == "default" and plain["password"] == ""
    tls = http_options("clickhouses://u%40x:p%2Fw@ch:9443/db")
    assert (tls["port"], tls["secure"], tls["username"], tls["password"]) == (
        9443,
        True,
        "u@x",
        "p/w",
    )
    assert http_options("clickhouse://ch:8443/db?secure=1")["secure"] is True
    assert "p%2Fw" not in display("clickhouses://u:p%2Fw@ch:9443/db")


def test_parameters_become_literals_and_marks_inside_literals_stay() -> None:
    assert literal("it's \\ \x00 東京") == "'it\\'s \\\\ \\0 東京'"
    assert literal(None) == "NULL" and literal(True) == "1" and literal(2.5) == "2.5"
    assert literal(["a", 1]) == "['a', 1]"
    assert bind("SELECT ?, 'a?b', ?", ["x?", 3]) == "SELECT 'x?', 'a?b', 3"
    with pytest.raises(ValueError):
        bind("SELECT ?", [1, 2])


@pytest.fixture()
def chdb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with new_database("chdb", tmp_path_factory.mktemp("ch"), served=False) as db:
        srv = Server(db)
        srv.start()
        try:
            yield srv
        finally:
            srv.stop()


def test_placeholder_filter_sees_its_update_once_the_session_starts(chdb_server: Server) -> None:
    """Documented difference: an update of a session known only through its events is shown
    with the placeholder at once, but a filter on the updated field matches the session only
    once its real start arrives (SQLite and PostgreSQL store the placeholder as a row)."""
    project, sid = f"p-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    enriched = {"project": project, "filters": [
        {"field": "metadata.enriched", "operator": "exists"}]}  # fmt: skip
    with chdb_server.client() as c:
        child = {"project": project, "session_id": sid, "event_type": "tool"}
        assert c.post("/events", json={"event": child}).status_code == 200
        put = {"project": project, "event_id": sid, "metadata": {"enriched": True}}
        assert c.put("/events", json=put).status_code == 200
        shown = c.get(f"/v1/events/{sid}", params={"project": project}).json()
        assert shown["metadata"]["enriched"] is True  # folded onto the placeholder when read
        assert c.post("/events/export", json=enriched).json()["totalEvents"] == 0
        session = {"project": project, "session_id": sid, "session_name": "real"}
        assert c.post("/session/start", json={"session": session}).status_code == 200
        found = c.post("/events/export", json=enriched).json()
        assert [e["event_id"] for e in found["events"]] == [sid]
        assert found["events"][0]["event_name"] == "real"


def test_embedded_engine_keys_need_the_server_stopped(chdb_server: Server) -> None:
    """Documented difference: `chdb:` opens its data in one process, so while a server runs
    `keys` exits non-zero and says why; with the server stopped, keys are created and revoked,
    and the restarted server honours them. (A ClickHouse server has no such limit.)"""
    srv = chdb_server
    busy = hivelog("keys", "create", "--project", "gamma", "--db", srv.db, check=False)
    assert busy.returncode != 0 and "one process at a time" in busy.stderr, busy.stderr
    srv.stop()
    key = create_key(srv.db, "gamma", "temp")
    srv.start()
    event = {"event": {"project": "gamma", "event_type": "tool"}}
    with srv.client(headers={"Authorization": f"Bearer {key}"}) as c:
        assert c.post("/events", json=event).status_code == 200
    srv.stop()
    hivelog("keys", "revoke", key.split("_")[1], "--db", srv.db)
    srv.start()
    with srv.client(headers={"Authorization": f"Bearer {key}"}) as c:
        assert c.post("/events", json=event).status_code == 401


def test_an_upgraded_database_knows_the_ids_it_held(chdb_server: Server) -> None:
    """Migration m0010 copies the ids of events stored before it into `event_ids`: a database
    written before the upgrade drops a resend that names another session, as a new one does.
    The state before the upgrade is made by undoing the migration on the stopped server."""
    from hivelog.store.clickhouse.transport import open_transport

    project, session, event = f"p-{uuid.uuid4().hex[:8]}", str(uuid.uuid4()), str(uuid.uuid4())
    tool = {"project": project, "session_id": session, "event_id": event, "event_type": "tool",
            "event_name": "first"}  # fmt: skip
    with chdb_server.client() as c:
        assert c.post("/events", json={"event": tool}).status_code == 200
    chdb_server.stop()
    engine = open_transport(chdb_server.db)
    try:
        for sql in (
            "DROP VIEW event_ids_mv",
            "DROP TABLE event_ids",
            "DELETE FROM schema_migrations WHERE name = '0010_clickhouse_event_ids'",
        ):
            engine.execute(sql, ())
    finally:
        engine.close()
    chdb_server.start()
    with chdb_server.client() as c:
        again = {**tool, "session_id": str(uuid.uuid4()), "event_name": "again"}
        assert c.post("/events/batch", json={"project": project, "events": [again]}).is_success
        found = c.post("/events/export", json={"project": project}).json()["events"]
        assert [(e["session_id"], e["event_name"]) for e in found if e["event_id"] == event] == [
            (session, "first")
        ]


def test_an_id_that_shares_its_hash_with_a_stored_one_is_still_stored(
    chdb_server: Server,
) -> None:
    """`event_ids` is probed by a 64-bit hash of the id; the writer compares the ids it
    finds, so an id that only shares a hash with a stored one is new. (No real collision is
    at hand: a row of another id under this id's hash is written while the server is
    stopped.)"""
    from hivelog.store.clickhouse.connection import project_key
    from hivelog.store.clickhouse.transport import open_transport

    project, event = f"p-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    with chdb_server.client() as c:  # the project exists
        first = {"project": project, "event_type": "tool"}
        assert c.post("/events", json={"event": first}).status_code == 200
    chdb_server.stop()
    engine = open_transport(chdb_server.db)
    try:
        engine.execute(
            "INSERT INTO event_ids (project, id_hash, event_id, day) "
            "VALUES (?, halfMD5(?), ?, today())",
            (project_key(project), event, "another id"),
        )
    finally:
        engine.close()
    chdb_server.start()
    with chdb_server.client() as c:
        tool = {"project": project, "event_id": event, "event_type": "tool"}
        assert c.post("/events", json={"event": tool}).status_code == 200
        assert c.get(f"/v1/events/{event}", params={"project": project}).status_code == 200


def test_a_patch_not_yet_folded_is_folded_on_every_read(chdb_server: Server) -> None:
    """An update another process has just appended as a patch, before that process folds it
    into a new row of its event: every read that returns whole events folds it on — the tree
    and one event by id (which learn of the patch in the statement that reads the rows) and
    a page of a query (which asks in a second one). Made by appending the patch row while the
    server is stopped."""
    import time

    from hivelog.event import EventUpdate
    from hivelog.store.clickhouse.connection import project_key
    from hivelog.store.clickhouse.transport import open_transport
    from hivelog.store.clickhouse.writes import _encode_update

    project, session, event = f"p-{uuid.uuid4().hex[:8]}", str(uuid.uuid4()), str(uuid.uuid4())
    with chdb_server.client() as c:
        start = {"project": project, "session_id": session, "session_name": "s"}
        assert c.post("/session/start", json={"session": start}).status_code == 200
        tool = {"project": project, "session_id": session, "event_id": event,
                "event_type": "tool", "outputs": {"content": "early"}}  # fmt: skip
        assert c.post("/events", json={"event": tool}).status_code == 200
    chdb_server.stop()
    engine = open_transport(chdb_server.db)
    try:
        for target, update in (
            (event, EventUpdate(event_id=event, outputs={"content": "late"})),
            (session, EventUpdate(event_id=session, metadata={"user": "u1"})),
        ):
            engine.execute(
                "INSERT INTO event_patches (project, event_id, seq, patch_id, body) "
                "VALUES (?, ?, ?, ?, ?)",
                (project_key(project), target, time.time_ns(), str(uuid.uuid4()),
                 _encode_update(update).decode()),
            )  # fmt: skip
    finally:
        engine.close()
    chdb_server.start()
    with chdb_server.client() as c:
        one = c.get(f"/session/{event}", params={"project": project}).json()
        assert one["outputs"] == {"content": "late"}
        tree = c.get(f"/v1/sessions/{session}", params={"project": project}).json()
        assert tree["metadata"]["user"] == "u1"
        assert [k["outputs"] for k in tree["children"]] == [{"content": "late"}]
        page = c.post("/events/export", json={"project": project}).json()["events"]
        by_id = {e["event_id"]: e for e in page}
        assert by_id[event]["outputs"] == {"content": "late"}
        assert by_id[session]["metadata"]["user"] == "u1"
