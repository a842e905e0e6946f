"""U+0000 in text is accepted on both backends (PostgreSQL cannot store it: it becomes U+FFFD)."""

from __future__ import annotations

import uuid

from tests.conftest import Server


def test_nul_in_ids_names_and_json_is_stored(server: Server, backend: str) -> None:
    project = f"nul\x00{uuid.uuid4().hex[:8]}"
    sid, eid = f"s\x00{uuid.uuid4()}", f"e\x00{uuid.uuid4()}"
    event = {
        "project": project,
        "session_id": sid,
        "event_id": eid,
        "event_type": "tool",
        "event_name": "na\x00me",
        "inputs": {"k\x00": "v\x00"},
    }
    with server.client() as c:
        assert c.post("/events", json={"event": event}).status_code == 200
        update = {"project": project, "event_id": eid, "metadata": {"m": "\x00"}}
        assert c.put("/events", json=update).status_code == 200
        body = {
            "project": project,
            "filters": [{"field": "event_name", "operator": "is", "value": "na\x00me"}],
        }
        r = c.post("/events/export", json=body)
        assert r.status_code == 200, r.text
        events = r.json()["events"]
    assert len(events) == 1
    nul = "\ufffd" if backend == "postgres" else "\x00"
    assert events[0]["event_name"] == f"na{nul}me"
    assert events[0]["inputs"] == {f"k{nul}": f"v{nul}"}
    assert events[0]["metadata"] == {"m": nul}
    assert events[0]["session_id"] == sid.replace("\x00", nul)


def test_server_fixture_runs_the_backend_it_names(server: Server, backend: str) -> None:
    assert server.db.startswith("postgresql://") == (backend == "postgres")
    assert server.db.startswith("clickhouse://") == (backend == "chdb")
