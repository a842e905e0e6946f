"""Several hivelog processes on one PostgreSQL, or on one ClickHouse, converge exactly like one.

Two `hivelog serve` processes on different ports share one fresh database: A runs
`--workers 2` (two uvicorn worker processes behind one port), B one process. Concurrent
clients spread each session's start, events, updates and resends across all of them in
random order; every acknowledged event must then be stored exactly once, with the exact
tree, `children_ids`, merged updates and real (not placeholder) session. On ClickHouse the
database is the embedded engine behind the test-only HTTP front (tests/chdb_front.py),
reached through the production HTTP transport.
"""

from __future__ import annotations

import contextlib
import random
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import Server, new_database

BASE = 1_790_000_000_000
CLIENTS = 16


@pytest.fixture(scope="module", params=["postgres", "clickhouse"])
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Server]]:
    with contextlib.ExitStack() as stack:
        if request.param == "postgres":
            db = stack.enter_context(new_database("postgres", tmp_path_factory.mktemp("pg")))
        else:
            db = stack.enter_context(new_database("chdb", tmp_path_factory.mktemp("ch")))
        group = [Server(db, ["--workers", "2"]), Server(db)]
        # Started at the same moment: both run migrations, which must apply exactly once.
        starters = [threading.Thread(target=s.start, kwargs={"timeout": 120}) for s in group]
        for t in starters:
            t.start()
        for t in starters:
            t.join(timeout=150)
        try:
            for s in group:
                assert s.proc is not None and s.proc.poll() is None, s.log()
                assert httpx.get(s.url + "/healthz", timeout=5).status_code == 200
            yield group
        finally:
            for s in group:
                s.stop()


def uid() -> str:
    return str(uuid.uuid4())


class Sender:
    """Posts requests from many threads, each to a chosen or random server."""

    def __init__(self, servers: list[Server]) -> None:
        self.urls = [s.url for s in servers]
        self.local = threading.local()

    def client(self) -> httpx.Client:
        c: httpx.Client | None = getattr(self.local, "c", None)
        if c is None:
            c = httpx.Client(timeout=60)
            self.local.c = c
        return c

    def send(self, method: str, path: str, body: Any, server: int | None = None) -> None:
        url = self.urls[server if server is not None else random.randrange(len(self.urls))]
        r = self.client().request(method, url + path, json=body)
        assert r.status_code == 200, f"{method} {path} -> {r.status_code}: {r.text}"


def _walk(node: dict[str, Any], parent: str | None, out: dict[str, dict[str, Any]]) -> None:
    assert node["event_id"] not in out, f"{node['event_id']} twice in the tree"
    out[node["event_id"]] = {**node, "tree_parent": parent}
    for child in node["children"]:
        _walk(child, node["event_id"], out)


def tree(url: str, project: str, session_id: str) -> dict[str, dict[str, Any]]:
    r = httpx.get(f"{url}/v1/sessions/{session_id}", params={"project": project}, timeout=30)
    assert r.status_code == 200, r.text
    nodes: dict[str, dict[str, Any]] = {}
    _walk(r.json(), None, nodes)
    return nodes


def count_events(url: str, project: str, session_id: str) -> int:
    body = {
        "project": project,
        "filters": [{"field": "session_id", "operator": "is", "value": session_id}],
        "limit": 7500,
    }
    r = httpx.post(f"{url}/events/export", json=body, timeout=30)
    assert r.status_code == 200, r.text
    total: int = r.json()["totalEvents"]
    assert total == len(r.json()["events"])
    return total


def test_sessions_spread_over_processes_converge_exactly(servers: list[Server]) -> None:
    rng = random.Random(4)
    project = f"scale-{uid()[:8]}"
    requests: list[tuple[str, str, Any]] = []
    expected: dict[str, dict[str, tuple[str, int]]] = {}  # session -> event -> (parent, start)
    updated: dict[str, int] = {}
    for s in range(40):
        sid = uid()
        base = BASE + s * 100_000
        session = {"project": project, "session_id": sid, "session_name": f"s{s}"}
        requests.append(("POST", "/session/start", {"session": {**session, "start_time": base}}))
        requests.append(
            ("PUT", "/events", {"project": project, "event_id": sid, "metadata": {"m": s}})
        )
        parents, events = [sid], {}
        batch: list[dict[str, Any]] = []
        for k in range(14):
            eid = uid()
            parent = rng.choice(parents)
            start = base + 10 * (k + 1)
            events[eid] = (parent, start)
            parents.append(eid)
            event = {
                "project": project,
                "session_id": sid,
                "event_id": eid,
                "parent_id": parent,
                "event_type": rng.choice(["model", "tool", "chain"]),
                "event_name": f"e{k}",
                "inputs": {"q": f"東京 {k}"},
                "start_time": start,
                "duration": 5,
            }
            if k % 4 == 3:  # a batch of this session's events, in one request
                batch.append(event)
                requests.append(("POST", "/events/batch", {"project": project, "events": batch}))
                batch = []
            elif k % 4 == 2:
                batch.append(event)
            else:
                requests.append(("POST", "/events", {"event": event}))
                if rng.random() < 0.3:  # resent: to whichever process the dice pick
                    requests.append(("POST", "/events", {"event": event}))
            if k % 3 == 0:
                body = {"project": project, "event_id": eid, "metadata": {f"u{k}": k}}
                requests.append(("PUT", "/events", {**body, "outputs": {"final": eid}}))
                updated[eid] = k
        if batch:
            requests.append(("POST", "/events/batch", {"project": project, "events": batch}))
        expected[sid] = events
    rng.shuffle(requests)  # children before parents, updates before events
    sender = Sender(servers)
    with ThreadPoolExecutor(CLIENTS) as pool:
        for future in [pool.submit(sender.send, *r) for r in requests]:
            future.result(timeout=120)

    for n, (sid, events) in enumerate(expected.items()):
        url = servers[n % len(servers)].url
        nodes = tree(url, project, sid)
        assert set(nodes) == {sid, *events}
        assert count_events(url, project, sid) == len(events) + 1  # nothing duplicated
        session = nodes[sid]
        assert session["event_name"] == f"s{n}"  # the real session replaced its placeholder
        assert session["metadata"]["m"] == n and session["metadata"]["num_events"] == len(events)
        for eid, (parent, _) in events.items():
            assert nodes[eid]["tree_parent"] == parent
            assert nodes[eid]["parent_id"] == parent
        for node_id, node in nodes.items():
            kids = sorted(
                (e for e, (p, _) in events.items() if p == node_id), key=lambda e: events[e][1]
            )
            assert node["children_ids"] == kids, node_id
        for eid, k in updated.items():
            if eid in events:
                assert nodes[eid]["metadata"] == {f"u{k}": k}
                assert nodes[eid]["outputs"] == {"final": eid}


def _at_once(*calls: tuple[Sender, str, str, Any, int]) -> None:
    """Fire the calls from separate threads released by one barrier."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(sender: Sender, method: str, path: str, body: Any, server: int) -> None:
        try:
            barrier.wait(timeout=10)
            sender.send(method, path, body, server)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=c) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors


def test_parent_and_child_at_the_same_moment_in_two_processes(servers: list[Server]) -> None:
    project = f"race-{uid()[:8]}"
    sender = Sender(servers)
    cases = []
    for i in range(30):
        sid, child, grandchild = uid(), uid(), uid()
        a, b = (0, 1) if i % 2 else (1, 0)
        session = {
            "project": project,
            "session_id": sid,
            "session_name": "real",
            "start_time": BASE,
        }
        event = {
            "project": project,
            "session_id": sid,
            "event_id": child,
            "event_type": "chain",
            "start_time": BASE + 5,
        }
        leaf = {**event, "event_id": grandchild, "parent_id": child, "start_time": BASE + 7}
        _at_once(
            (sender, "POST", "/session/start", {"session": session}, a),
            (sender, "POST", "/events", {"event": event}, b),
            (sender, "POST", "/events", {"event": leaf}, a),
            (
                sender,
                "PUT",
                "/events",
                {"project": project, "event_id": child, "feedback": {"ok": i}},
                b,
            ),
        )
        cases.append((sid, child, grandchild, i))
    for sid, child, grandchild, i in cases:
        nodes = tree(servers[i % 2].url, project, sid)
        assert set(nodes) == {sid, child, grandchild}
        assert nodes[sid]["event_name"] == "real"
        assert nodes[sid]["children_ids"] == [child]
        assert nodes[child]["children_ids"] == [grandchild]
        assert nodes[child]["feedback"] == {"ok": i}
        assert count_events(servers[0].url, project, sid) == 3


def test_same_event_to_two_processes_at_once_is_stored_once(servers: list[Server]) -> None:
    project = f"dup-{uid()[:8]}"
    sender = Sender(servers)
    sid = uid()
    ids = []
    for i in range(30):
        eid = uid()
        event = {
            "project": project,
            "session_id": sid,
            "event_id": eid,
            "event_type": "tool",
            "start_time": BASE + i,
            "outputs": {"n": i},
        }
        update = {"project": project, "event_id": eid, "metrics": {"score": i}}
        batch = {"project": project, "events": [event]}
        _at_once(
            (sender, "POST", "/events", {"event": event}, 0),
            (sender, "POST", "/events", {"event": event}, 1),
            (sender, "POST", "/events/batch", batch, i % 2),
            (sender, "PUT", "/events", update, (i + 1) % 2),
        )
        ids.append(eid)
    nodes = tree(servers[1].url, project, sid)
    assert set(nodes) == {sid, *ids}
    assert nodes[sid]["children_ids"] == ids  # by start time, each once
    for i, eid in enumerate(ids):
        assert nodes[eid]["metrics"] == {"score": i}
        assert nodes[eid]["outputs"] == {"n": i}
    assert count_events(servers[0].url, project, sid) == len(ids) + 1
