"""Updates that name no project (HoneyHive's SDKs send none) converge with their event
whatever the order and whichever project the event lands in — in one process and across
processes on one PostgreSQL — and reads that name no project find an id's project."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import Server, new_database
from tests.helpers import export, get_event, is_, post_ok, uid
from tests.security.keyed import create_key, keyed_client


def _event(project: str, event_id: str, session_id: str | None = None) -> dict[str, Any]:
    return {
        "project": project,
        "event_id": event_id,
        "session_id": session_id or uid(),
        "event_type": "tool",
        "event_name": "lookup",
        "metadata": {"own": 1},
        "start_time": 1_790_000_000_000,
        "end_time": 1_790_000_000_100,
    }


@pytest.mark.parametrize("route", ["classic", "v1"])
def test_an_update_before_its_event_reaches_the_events_project(
    client: httpx.Client, project: str, route: str
) -> None:
    eid = uid()
    if route == "classic":
        r = client.put("/events", json={"event_id": eid, "metadata": {"late": True}})
    else:
        r = client.put(f"/v1/events/{eid}", json={"metadata": {"late": True}})
    assert r.status_code == 200, r.text
    r = client.put("/events", json={"event_id": eid, "outputs": {"answer": 42}})
    assert r.status_code == 200, r.text
    post_ok(client, "/events", {"event": _event(project, eid)})
    e = get_event(client, project, eid)
    assert e["metadata"] == {"own": 1, "late": True} and e["outputs"] == {"answer": 42}
    # nothing was left behind in `default` either
    assert export(client, "default", is_("event_id", eid)) == []


def test_an_update_of_a_session_before_it_starts(client: httpx.Client, project: str) -> None:
    sid = uid()
    r = client.put("/events", json={"event_id": sid, "metadata": {"rating": 5}})
    assert r.status_code == 200, r.text
    # an event names the session first (a placeholder), then the session starts
    post_ok(client, "/events", {"event": _event(project, uid(), sid)})
    post_ok(client, "/session/start", {"session": {"project": project, "session_id": sid}})
    session = client.get(f"/session/{sid}").json()
    assert session["metadata"]["rating"] == 5


def test_reads_by_event_id_find_its_project(client: httpx.Client, project: str) -> None:
    eid = uid()
    post_ok(client, "/events", {"event": _event(project, eid)})
    for path in ("/events/export", "/v1/events/export"):
        r = client.post(path, json={"filters": [is_("event_id", eid)]})
        assert r.status_code == 200, r.text
        assert [e["event_id"] for e in r.json()["events"]] == [eid]
    r = client.get(
        "/events",
        params={"filters": f'[{{"field": "event_id", "operator": "is", "value": "{eid}"}}]'},
    )
    assert [e["event_id"] for e in r.json()["events"]] == [eid]


def test_a_keyed_update_never_reaches_another_projects_event(fresh_database: str) -> None:
    mine, theirs = f"a-{uid()[:8]}", f"b-{uid()[:8]}"
    key = create_key(fresh_database, mine)
    other = create_key(fresh_database, theirs)
    server = Server(fresh_database)
    server.start()
    try:
        eid = uid()
        with keyed_client(server, key) as a, keyed_client(server, other) as b:
            r = a.put("/events", json={"event_id": eid, "metadata": {"from_a": True}})
            assert r.status_code == 200, r.text
            post_ok(b, "/events", {"event": _event(theirs, eid)})
            assert "from_a" not in get_event(b, theirs, eid)["metadata"]
            r = a.put("/events", json={"event_id": eid, "metadata": {"again": True}})
            assert r.status_code == 200, r.text
            assert get_event(b, theirs, eid)["metadata"] == {"own": 1}
    finally:
        server.stop()


# ---- the race across processes -------------------------------------------------------------


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """Two `hivelog serve` processes on one PostgreSQL database (one of them with 2 workers)."""
    with new_database("postgres", tmp_path_factory.mktemp("pg")) as db:
        group = [Server(db, ["--workers", "2"]), Server(db)]
        for s in group:
            s.start(timeout=120)  # the machine may be busy: wait on readiness, generously
        try:
            yield group
        finally:
            for s in group:
                s.stop()


def test_updates_and_events_racing_across_processes_converge(two_servers: list[Server]) -> None:
    """Each event's update (no project named) and the event itself (in a project of its own,
    not `default`) are sent at the same moment to different processes, many times over."""
    rng = random.Random(12)
    projects = [f"race-{uid()[:8]}" for _ in range(3)]
    ids = [uid() for _ in range(300)]
    home = {eid: rng.choice(projects) for eid in ids}
    local = threading.local()

    def client() -> httpx.Client:
        c: httpx.Client | None = getattr(local, "c", None)
        if c is None:
            c = local.c = httpx.Client(timeout=60)
        return c

    def send(eid: str, what: str) -> None:
        first = rng.random() < 0.5
        url = two_servers[(0 if first else 1) if what == "event" else (1 if first else 0)].url
        if what == "event":
            r = client().post(url + "/events", json={"event": _event(home[eid], eid)})
        else:
            r = client().put(url + "/events", json={"event_id": eid, "metadata": {"late": eid}})
        assert r.status_code == 200, r.text

    jobs = [(eid, what) for eid in ids for what in ("event", "update")]
    rng.shuffle(jobs)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda job: send(*job), jobs))

    with httpx.Client(base_url=two_servers[1].url, timeout=60) as c:
        for project in projects:
            mine = [eid for eid in ids if home[eid] == project]
            events = export(c, project, is_("event_type", "tool"), limit=7500)
            got = {e["event_id"]: e["metadata"] for e in events}
            assert sorted(got) == sorted(mine)
            lost = [eid for eid in mine if got[eid] != {"own": 1, "late": eid}]
            assert not lost, f"{len(lost)} updates lost, e.g. {got[lost[0]]}"
        assert export(c, "default") == []
