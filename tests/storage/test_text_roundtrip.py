"""Text that is special to the storage formats comes back exactly as it was sent.

PostgreSQL takes new events as COPY text, where tab, newline, carriage return and backslash
are escapes and a line `\\.` ends the data; SQLite binds parameters. Every such character, in
every text field and inside JSON, must round-trip on both backends, in batches and alone.
"""

from __future__ import annotations

import uuid

from tests.conftest import Server

NASTY = ["a\tb", "line\nbreak", "cr\rlf\r\n", "back\\slash", "\\N", "\\.", "\\\\N", "end\\"]


def _event(project: str, sid: str, i: int, text: str) -> dict[str, object]:
    return {
        "project": project,
        "session_id": sid,
        "event_id": f"{uuid.uuid4()}{text}",
        "parent_id": sid,
        "event_type": "tool",
        "event_name": text,
        "source": text,
        "error": text,
        "inputs": {text: text, "list": [text, {"k": text}]},
        "outputs": {"content": text},
        "metadata": {"i": i, "t": text},
        "start_time": 1_700_000_000_000 + i,
        "duration": 1.5,
    }


def test_copy_escapes_round_trip(server: Server) -> None:
    project = f"text-{uuid.uuid4().hex[:8]}"
    sid = str(uuid.uuid4())
    batch = [_event(project, sid, i, t) for i, t in enumerate(NASTY)]
    # Each alone too: one bad line would send a whole batch down another path.
    singles = [_event(project, sid, 100 + i, t) for i, t in enumerate(NASTY)]
    with server.client() as c:
        r = c.post("/events/batch", json={"project": project, "events": batch})
        assert r.status_code == 200, r.text
        for event in singles:
            assert c.post("/events", json={"event": event}).status_code == 200
        r = c.post("/events/export", json={"project": project, "limit": 100})
        assert r.status_code == 200, r.text
        stored = {e["event_id"]: e for e in r.json()["events"]}
    stored.pop(sid)  # the placeholder session
    assert len(stored) == 2 * len(NASTY)
    for sent in [*batch, *singles]:
        got = stored[str(sent["event_id"])]
        for field in ("event_name", "source", "error", "inputs", "outputs", "session_id"):
            assert got[field] == sent[field], (field, got[field], sent[field])
        assert got["metadata"]["t"] == sent["metadata"]["t"]  # type: ignore[index]
        assert got["duration"] == 1.5
