"""Long inputs and outputs on every backend: read back, filtered, searched, updated and
deleted exactly as sent. SQLite stores them packed (store/packing.py), so there this also
shows that what is packed is everything that is read."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from typing import Any

import httpx

from tests.conftest import Server
from tests.helpers import export, get_event, post_ok

TALK = "東京の天気は晴れです。Как вернуть товар? Where is my order? 我的包裹在哪里 " * 12


def _found(client: httpx.Client, project: str, words: str) -> set[str]:
    """Event ids the events page's search finds (its download: the same query, every row)."""
    r = client.get("/ui/export/events.jsonl", params={"project": project, "q": words})
    assert r.status_code == 200, r.text
    return {json.loads(line)["event_id"] for line in r.text.splitlines()}


def _stored_types(db: str, event_id: str) -> tuple[str, str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute(
            "SELECT typeof(inputs), typeof(outputs) FROM events WHERE event_id = ?", (event_id,)
        ).fetchone()
    conn.close()
    return row[0], row[1]


def test_long_fields_read_filter_search_update_and_delete(
    server: Server, client: httpx.Client, project: str
) -> None:
    sid, long_id, short_id = (str(uuid.uuid4()) for _ in range(3))
    marker = f"zebra{uuid.uuid4().hex[:8]}"
    inputs: dict[str, Any] = {
        "chat_history": [
            {"role": "system", "content": TALK},
            {"role": "user", "content": f"{TALK} {marker}"},
        ]
    }
    outputs: dict[str, Any] = {"role": "assistant", "content": TALK + " done"}
    now = int(time.time() * 1000) - 5_000
    post_ok(client, "/events/batch", {"project": project, "events": [
        {"event_id": long_id, "session_id": sid, "event_type": "model", "event_name": "long",
         "start_time": now, "duration": 10, "inputs": inputs, "outputs": outputs},
        {"event_id": short_id, "session_id": sid, "event_type": "tool", "event_name": "short",
         "start_time": now + 1, "duration": 1, "inputs": {"q": "hi"}, "outputs": {"a": 1}},
    ]})  # fmt: skip
    if "://" not in server.db and not server.db.startswith("chdb:"):
        assert _stored_types(server.db, long_id) == ("blob", "blob")
        assert _stored_types(server.db, short_id) == ("text", "text")

    stored = get_event(client, project, long_id)
    assert stored["inputs"] == inputs and stored["outputs"] == outputs
    assert get_event(client, project, short_id)["inputs"] == {"q": "hi"}

    by_path = {"field": "inputs.chat_history.1.content", "operator": "contains",
               "value": marker, "type": "string"}  # fmt: skip
    assert [e["event_id"] for e in export(client, project, by_path)] == [long_id]
    exact = {"field": "outputs.content", "operator": "is", "value": TALK + " done",
             "type": "string"}  # fmt: skip
    assert [e["event_id"] for e in export(client, project, exact)] == [long_id]
    whole = {"field": "outputs", "operator": "contains", "value": "done", "type": "string"}
    assert [e["event_id"] for e in export(client, project, whole)] == [long_id]

    assert _found(client, project, marker) == {long_id}
    assert _found(client, project, "包裹 вернуть") == {long_id}

    answer = f"shipped by drone {uuid.uuid4().hex[:8]} " * 30
    r = client.put(
        "/events", json={"event_id": long_id, "project": project, "outputs": {"content": answer}}
    )
    assert r.status_code == 200, r.text
    assert get_event(client, project, long_id)["outputs"] == {"content": answer}  # replaced
    assert _found(client, project, answer.split()[3]) == {long_id}
    assert _found(client, project, "done") == set()

    r = client.delete(f"/session/{sid}", params={"project": project})
    assert r.status_code == 200, r.text
    assert _found(client, project, marker) == set()
