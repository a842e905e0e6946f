"""A download shows the figures the pages and the API show.

A session started with no end spans its events, and its cost is its model calls' (or unknown):
the export route and the session tree say so (query.sessions), and so must both downloads —
the events page's (chunks that follow on by start time) and the sessions page's (every event
of each session) — in JSONL and CSV.
"""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from typing import Any

from tests.conftest import Server


def _session(server: Server, project: str) -> str:
    """A session started at t0, with a priced and an unpriced model call ending at t0 + 5 s."""
    t0 = int(time.time() * 1000) - 60_000
    with server.client() as c:
        r = c.post("/session/start", json={"session": {"project": project, "start_time": t0}})
        assert r.status_code == 200, r.text
        sid: str = r.json()["session_id"]
        for model, start in (("gpt-4o", t0 + 1000), ("no-such-model-xyz", t0 + 4000)):
            event = {
                "project": project, "session_id": sid, "event_type": "model",
                "event_name": model, "config": {"model": model, "provider": "openai"},
                "metadata": {"prompt_tokens": 1000, "completion_tokens": 100},
                "start_time": start, "end_time": start + 1000,
            }  # fmt: skip
            assert c.post("/events", json={"event": event}).status_code == 200
    return sid


def _session_line(lines: list[dict[str, Any]], sid: str) -> dict[str, Any]:
    return next(e for e in lines if e["event_id"] == sid)


def test_downloads_show_the_sessions_span_and_cost(server: Server) -> None:
    project = f"dlfig-{uuid.uuid4().hex[:8]}"
    sid = _session(server, project)
    with server.client() as c:
        exported = c.post("/events/export", json={"project": project}).json()["events"]
        want = _session_line(exported, sid)
        assert want["duration"] == 5000  # t0 to the last call's end
        assert want["metadata"]["cost_status"] == "partial" and want["metadata"]["cost"] > 0
        for page in ("events", "sessions"):
            r = c.get(f"/ui/export/{page}.jsonl", params={"project": project})
            assert r.status_code == 200, r.text
            got = _session_line([json.loads(x) for x in r.text.splitlines()], sid)
            for field in ("start_time", "end_time", "duration"):
                assert got[field] == want[field], (page, field, got[field], want[field])
            assert got["metadata"]["cost"] == want["metadata"]["cost"], page
            assert got["metadata"]["cost_status"] == "partial", page
            r = c.get(f"/ui/export/{page}.csv", params={"project": project})
            assert r.status_code == 200, r.text
            row = next(x for x in csv.DictReader(io.StringIO(r.text)) if x["event_id"] == sid)
            assert float(row["duration"]) == 5000, (page, row["duration"])
