"""Times that are true: an event logged with only a duration ended when it was received, and
an explicitly started session spans its events on every route, page and export."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import HIVELOG, Server
from tests.helpers import export, get_event, is_, post_ok, uid


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# ---- item: events logged "when they end" -------------------------------------------------


def _send(client: httpx.Client, project: str, route: str) -> str:
    """One event with `duration: 840` and no times, through `route`; its event id."""
    item: dict[str, Any] = {"event_type": "tool", "event_name": "lookup", "duration": 840}
    sid = uid()
    if route == "/events":
        return str(post_ok(client, route, {"event": {"project": project, **item}})["event_id"])
    if route == "/v1/events":
        return str(post_ok(client, route, {"project": project, **item})["event_id"])
    if route == "/events/batch":
        out = post_ok(client, route, {"project": project, "events": [item]})
        return str(out["event_ids"][0])
    model = {"model": "gpt-4o-mini", "duration": 840, "usage": {"prompt_tokens": 1}}
    if route == "/events/model":
        out = post_ok(client, route, {"model_event": {"project": project, **model}})
        return str(out["event_id"])
    if route == "/events/model/batch":
        out = post_ok(client, route, {"project": project, "model_events": [model]})
        return str(out["event_ids"][0])
    if route == "/v1/sessions/{id}/events/batch":
        out = post_ok(
            client, f"/v1/sessions/{sid}/events/batch", {"project": project, "events": [item]}
        )
        return str(out["event_ids"][0])
    assert route == "/session/{id}/traces"
    out = post_ok(client, f"/session/{sid}/traces", {"project": project, "logs": [item]})
    return str(out["event_ids"][0])


ROUTES = [
    "/events",
    "/v1/events",
    "/events/batch",
    "/events/model",
    "/events/model/batch",
    "/v1/sessions/{id}/events/batch",
    "/session/{id}/traces",
]


@pytest.mark.parametrize("route", ROUTES)
def test_an_event_with_only_a_duration_ended_when_received(
    client: httpx.Client, project: str, route: str
) -> None:
    before = now_ms()
    event_id = _send(client, project, route)
    after = now_ms()
    e = get_event(client, project, event_id)
    assert e["duration"] == 840
    assert e["end_time"] - e["start_time"] == 840
    assert before <= e["end_time"] <= after, "the event ends when it is received, not later"
    assert e["start_time"] <= before - 840 + (after - before)


def test_imported_events_with_only_a_duration(
    server: Server, client: httpx.Client, project: str, tmp_path: Path
) -> None:
    eid = uid()
    lines = tmp_path / "events.jsonl"
    lines.write_text(json.dumps({"event_id": eid, "event_type": "tool", "duration": 840}) + "\n")
    before = now_ms()
    done = subprocess.run(
        [HIVELOG, "import", str(lines), "--url", server.url, "--project", project],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    after = now_ms()
    assert done.returncode == 0, done.stderr
    e = get_event(client, project, eid)
    assert e["end_time"] - e["start_time"] == 840 and before <= e["end_time"] <= after


def test_other_time_combinations(client: httpx.Client, project: str) -> None:
    t = 1_790_000_000_000
    cases = [
        ({"start_time": t, "duration": 500}, (t, t + 500, 500)),
        ({"end_time": t, "duration": 500}, (t - 500, t, 500)),
        ({"start_time": t, "end_time": t + 300}, (t, t + 300, 300)),
        ({"start_time": t}, (t, t, 0)),
    ]
    for given, (start, end, duration) in cases:
        out = post_ok(
            client, "/events", {"event": {"project": project, "event_type": "tool", **given}}
        )
        e = get_event(client, project, out["event_id"])
        assert (e["start_time"], e["end_time"], e["duration"]) == (start, end, duration), given


def test_an_update_of_the_duration_moves_the_end(client: httpx.Client, project: str) -> None:
    t = 1_790_000_000_000
    out = post_ok(
        client, "/events", {"event": {"project": project, "event_type": "tool", "start_time": t}}
    )
    assert (
        client.put("/events", json={"event_id": out["event_id"], "duration": 250}).status_code
        == 200
    )
    e = get_event(client, project, out["event_id"])
    assert (e["end_time"], e["duration"]) == (t + 250, 250)


# ---- item: session durations -------------------------------------------------------------

T0 = 1_790_000_000_000


def _started_session(client: httpx.Client, project: str) -> str:
    """A session started explicitly at T0 (no end), whose events run until T0 + 12.4 s."""
    sid = uid()
    post_ok(
        client,
        "/session/start",
        {"session": {"project": project, "session_id": sid, "start_time": T0}},
    )
    events = [
        {
            "event_type": "tool",
            "event_name": f"step{i}",
            "start_time": T0 + 1000 * i,
            "duration": 1000,
        }
        for i in range(1, 4)
    ]
    events.append(
        {
            "event_type": "chain",
            "event_name": "last",
            "start_time": T0 + 11_400,
            "end_time": T0 + 12_400,
        }
    )
    post_ok(client, f"/v1/sessions/{sid}/events/batch", {"project": project, "events": events})
    return sid


def _check(node: dict[str, Any], where: str) -> None:
    assert (node["start_time"], node["end_time"], node["duration"]) == (T0, T0 + 12_400, 12_400), (
        where
    )


def test_a_started_session_spans_its_events_on_every_route(
    server: Server, client: httpx.Client, project: str, tmp_path: Path
) -> None:
    sid = _started_session(client, project)
    _check(client.get(f"/session/{sid}").json(), "GET /session/{id}")
    _check(client.get(f"/v1/sessions/{sid}").json(), "GET /v1/sessions/{id}")
    _check(client.get(f"/v1/events/{sid}").json()["event"], "GET /v1/events/{id}")
    [session] = [
        e for e in export(client, project, is_("session_id", sid)) if e["event_type"] == "session"
    ]
    _check(session, "POST /events/export")
    r = client.get(
        "/events", params={"project": project, "filters": json.dumps([is_("event_id", sid)])}
    )
    _check(r.json()["events"][0], "GET /events")
    out = tmp_path / "out.jsonl"
    done = subprocess.run(
        [HIVELOG, "export", "--url", server.url, "--project", project, "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [line] = [
        json.loads(x) for x in out.read_text().splitlines() if json.loads(x)["event_id"] == sid
    ]
    _check(line, "hivelog export --url")
    if "://" not in server.db:  # SQLite: the CLI can read the file beside the running server
        done = subprocess.run(
            [HIVELOG, "export", "--db", server.db, "--project", project, "-o", str(out)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        [line] = [
            json.loads(x) for x in out.read_text().splitlines() if json.loads(x)["event_id"] == sid
        ]
        _check(line, "hivelog export --db")


def test_a_started_session_spans_its_events_on_every_page(
    client: httpx.Client, project: str
) -> None:
    sid = _started_session(client, project)
    pages = {
        "sessions list": client.get("/", params={"project": project}),
        "session header": client.get(f"/ui/sessions/{sid}", params={"project": project}),
        "events page": client.get("/ui/events", params={"project": project}),
        "detail panel": client.get(f"/ui/event/{sid}", params={"project": project}),
    }
    for name, page in pages.items():
        assert page.status_code == 200, (name, page.text[:300])
        assert "12.4 s" in page.text, name


def test_an_end_the_client_set_is_kept(client: httpx.Client, project: str) -> None:
    """At the start, or later with an update: an explicit end wins over the events' span."""
    at_start = uid()
    body = {"project": project, "session_id": at_start, "start_time": T0, "end_time": T0 + 5000}
    post_ok(client, "/session/start", {"session": body})
    late = {"event_type": "tool", "start_time": T0 + 4000, "end_time": T0 + 9000}
    post_ok(client, f"/v1/sessions/{at_start}/events/batch", {"project": project, "events": [late]})
    updated = _started_session(client, project)
    r = client.put("/events", json={"event_id": updated, "duration": 5000})
    assert r.status_code == 200, r.text
    for sid in (at_start, updated):
        for node in (
            client.get(f"/session/{sid}").json(),
            client.get(f"/v1/sessions/{sid}").json(),
        ):
            assert (node["start_time"], node["end_time"], node["duration"]) == (
                T0,
                T0 + 5000,
                5000,
            )
        header = client.get(f"/ui/sessions/{sid}", params={"project": project}).text
        assert "5.00 s" in header


LIMIT_MS = 10_000 * 366 * 24 * 3600 * 1000  # the API's ±10,000 years (normalize/times.py)


@pytest.mark.parametrize(
    "start",
    [-LIMIT_MS, -86_400_001, -1, 0, 1, 1_764_547_200_000, 4_294_967_296_000, 253_402_300_800_000,
     LIMIT_MS],
)  # fmt: skip
def test_an_event_reads_by_its_id_at_any_start_time(
    client: httpx.Client, project: str, start: int
) -> None:
    """One event read by id (`GET /session/{id}` answers any event): the stores narrow that
    read by the event's day where they can (ClickHouse: the days `event_ids` holds), which must
    find it at every start time the API accepts — before 1970, past the 32-bit seconds of
    2106, at the ±10,000-year limit — and in a session whose other event is another day."""
    sid, eid = uid(), uid()
    post_ok(client, "/events/batch", {"project": project, "events": [
        {"event_id": uid(), "session_id": sid, "event_type": "chain", "event_name": "first",
         "start_time": 1_764_547_200_000, "duration": 1},
        {"event_id": eid, "session_id": sid, "event_type": "tool", "event_name": "edge",
         "start_time": start, "end_time": start},
    ]})  # fmt: skip
    r = client.get(f"/session/{eid}", params={"project": project})
    assert r.status_code == 200, r.text
    assert (r.json()["event_id"], r.json()["start_time"]) == (eid, start)
    assert client.get(f"/session/{uid()}", params={"project": project}).status_code == 404
