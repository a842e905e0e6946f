"""Data acknowledged with a 2xx survives a restart, and a SIGKILL right after the answer."""

from __future__ import annotations

import signal

from tests.conftest import Server
from tests.helpers import export, get_event, post_ok, uid


def test_data_survives_restart_and_kill(fresh_server: Server) -> None:
    project = "durable"
    with fresh_server.client() as c:
        sid = post_ok(
            c, "/session/start", {"session": {"project": project, "session_name": "keep"}}
        )["session_id"]
        batch = post_ok(
            c,
            "/events/batch",
            {
                "project": project,
                "events": [
                    {"event_type": "tool", "session_id": sid, "inputs": {"i": i}} for i in range(50)
                ],
            },
        )
        late = uid()
        assert (
            c.put(
                "/events", json={"event_id": late, "project": project, "metadata": {"early": 1}}
            ).status_code
            == 200
        )
    fresh_server.restart()
    with fresh_server.client() as c:
        assert len(export(c, project)) == 51
        assert get_event(c, project, sid)["event_name"] == "keep"
        post_ok(
            c,
            "/events",
            {
                "event": {
                    "project": project,
                    "event_type": "tool",
                    "event_id": late,
                    "session_id": sid,
                }
            },
        )
        last = post_ok(
            c, "/events", {"event": {"project": project, "event_type": "chain", "session_id": sid}}
        )
    fresh_server.stop(signal.SIGKILL)  # no shutdown: only what was committed can be there
    fresh_server.start()
    with fresh_server.client() as c:
        events = export(c, project)
        ids = {e["event_id"] for e in events}
        assert set(batch["event_ids"]) <= ids and last["event_id"] in ids and late in ids
        assert len(events) == 53
        assert get_event(c, project, late)["metadata"] == {
            "early": 1
        }  # the update made before a restart
