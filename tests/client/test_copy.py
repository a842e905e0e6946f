"""`hivelog copy` moves every project, key, event and waiting update between backends.

One SQLite database gets every kind of event through a real server: sessions with every
field, model/tool/chain/generic events, children before their parents, a session known only
through its events (a placeholder), updates of stored events, of a placeholder session, and
an update whose event never came; OTLP spans, a trace moved into the session a later span
named (its placeholder named after the trace's root span) and a trace in a session of its
own; two projects; keys, one revoked. It is copied
SQLite → PostgreSQL (interrupted by SIGKILL once a page is checkpointed, then resumed) →
ClickHouse (`chdb:PATH`, the embedded engine in the copying process) → SQLite, and a server
on each copy must answer every read exactly as the
original did; the waiting update must still fold onto its event when the event arrives.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import HIVELOG, Server, new_database
from tests.otlp.otlp_helpers import new_span, new_trace, pb_request, pb_span, post_pb, trace_uuid

BASE = 1_780_000_000_000
PROJECTS = ("copy-a", "copy-b ünïcode")


def uid() -> str:
    return str(uuid.uuid4())


def _workload() -> tuple[list[tuple[str, str, Any]], dict[str, list[str]], str, str]:
    """(requests, project → session ids, the project and id of an update's missing event)."""
    calls: list[tuple[str, str, Any]] = []
    sessions: dict[str, list[str]] = {p: [] for p in PROJECTS}
    for n, project in enumerate(PROJECTS):
        for s in range(3):
            sid = uid()
            sessions[project].append(sid)
            start = BASE + n * 10_000_000 + s * 100_000
            kids = []
            parent = sid
            for k, kind in enumerate(("model", "tool", "chain", "generic", "model")):
                eid = uid()
                kids.append(
                    {
                        "project": project,
                        "session_id": sid,
                        "event_id": eid,
                        "parent_id": parent,
                        "event_type": kind,
                        "event_name": f"{kind}-{k}",
                        "source": "copy-test",
                        "config": {"model": "m-1", "temperature": 0.5} if kind == "model" else {},
                        "inputs": {"chat_history": [{"role": "user", "content": "東京 ¿qué?"}]},
                        "outputs": {"content": f"answer {k}", "nested": {"list": [1, 2.5, None]}},
                        "metadata": {"cost": 0.001 * k, "prompt_tokens": k, "flag": k % 2 == 0},
                        "feedback": {"rating": k} if k == 2 else {},
                        "metrics": {"score": k / 3} if k == 1 else {},
                        "user_properties": {"user_id": f"u{s}"},
                        "start_time": start + 10 * (k + 1),
                        "duration": 1.5 * k,
                        **({"error": "boom\nline two"} if k == 3 else {}),
                    }
                )
                parent = eid if k % 2 == 0 else parent
            # children before their parents, then the session (except a placeholder one)
            calls.append(("POST", "/events/batch", {"project": project, "events": kids[::-1]}))
            if s != 2:
                session = {
                    "project": project,
                    "session_id": sid,
                    "session_name": f"session {s}",
                    "source": "copy-test",
                    "start_time": start,
                    "metadata": {"env": "test"},
                    "user_properties": {"user_id": f"u{s}"},
                }
                calls.append(("POST", "/session/start", {"session": session}))
            update = {"project": project, "event_id": kids[1]["event_id"]}
            calls.append(("PUT", "/events", {**update, "feedback": {"liked": True}}))
            calls.append(("PUT", "/events", {**update, "outputs": {"final": s}}))
            calls.append(("PUT", "/events", {"project": project, "event_id": sid, "metadata": {
                "enriched": s}}))  # fmt: skip
    missing = uid()
    calls.append(("PUT", "/events", {"project": PROJECTS[0], "event_id": missing,
                                     "metadata": {"late": True}}))  # fmt: skip
    return calls, sessions, PROJECTS[0], missing


def _otlp(c: httpx.Client, project: str) -> list[str]:
    """OTLP spans: a trace whose spans name a session after its root came alone (the trace
    moves there, and the placeholder takes the root's name), and a trace naming none (a
    session of its own). Returns the two sessions."""
    named, trace, root, llm = f"conv-{uid()}", new_trace(), new_span(), new_span()
    at = {"params": {"project": project}}
    t0 = (BASE + 7_777_000) * 10**6  # no other event starts at the same millisecond
    post_pb(c, pb_request([pb_span(trace, root, "agent run", start_ns=t0)]), **at)
    child = pb_span(trace, llm, "chat", {"session.id": named, "gen_ai.request.model": "m-1"},
                    parent=root, start_ns=t0 + 10**6)  # fmt: skip
    post_pb(c, pb_request([child]), **at)
    alone = new_trace()
    post_pb(c, pb_request([pb_span(alone, new_span(), "solo", start_ns=t0 + 10**9)]), **at)
    return [named, trace_uuid(alone)]


def _first_difference(a: Any, b: Any, path: str = "$") -> str:
    """Where two answers first differ, and how (the assertion's message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in [*a, *(k for k in b if k not in a)]:
            if a.get(k, "<missing>") != b.get(k, "<missing>"):
                return _first_difference(
                    a.get(k, "<missing>"), b.get(k, "<missing>"), f"{path}.{k}"
                )
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path}: {str(a)[:300]} != {str(b)[:300]}"


def _answers(srv: Server, sessions: dict[str, list[str]], secrets: dict[str, str]) -> list[Any]:
    out: list[Any] = []
    for project, sids in sessions.items():
        with srv.client(headers={"Authorization": f"Bearer {secrets[project]}"}) as c:
            body = {"project": project, "filters": [], "limit": 7500}
            export = c.post("/events/export", json=body).json()
            out.append(export)
            for sid in sids:
                out.append(c.get(f"/v1/sessions/{sid}", params={"project": project}).json())
            for event in export["events"]:
                r = c.get(f"/v1/events/{event['event_id']}", params={"project": project})
                out.append(r.json())
    return out


def _keys(db: str) -> list[str]:
    listed = subprocess.run(
        [HIVELOG, "keys", "list", "--db", db], capture_output=True, text=True, timeout=300
    )
    assert listed.returncode == 0, listed.stderr
    return listed.stdout.splitlines()


def _copy(source: str, target: str, checkpoint: Path, *extra: str) -> str:
    done = subprocess.run(
        [HIVELOG, "copy", "--from", source, "--to", target, "--checkpoint", str(checkpoint),
         *extra],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not checkpoint.exists()  # a finished copy leaves no checkpoint behind
    return done.stderr


@contextlib.contextmanager
def _serving(db: str) -> Iterator[Server]:
    srv = Server(db)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture()
def databases(tmp_path: Path) -> Iterator[list[str]]:
    with (
        new_database("sqlite", tmp_path / "a") as lite,
        new_database("postgres", tmp_path / "b") as pg,
        new_database("chdb", tmp_path / "c", served=False) as ch,
        new_database("sqlite", tmp_path / "d") as back,
    ):
        (tmp_path / "a").mkdir(exist_ok=True)
        (tmp_path / "d").mkdir(exist_ok=True)
        yield [lite, pg, ch, back]


def test_copy_round_trips_everything_across_all_backends(
    databases: list[str], tmp_path: Path
) -> None:
    lite, pg, ch, back = databases
    calls, sessions, late_project, missing = _workload()
    with _serving(lite) as srv, srv.client() as c:
        for method, path, body in calls:
            r = c.request(method, path, json=body)
            assert r.status_code == 200, r.text
        sessions[PROJECTS[0]].extend(_otlp(c, PROJECTS[0]))
    secrets: dict[str, str] = {}
    for project, name in ((PROJECTS[0], "ci"), (PROJECTS[1], "ci"), (PROJECTS[1], "old")):
        made = subprocess.run(
            [HIVELOG, "keys", "create", "--project", project, "--name", name, "--db", lite],
            capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        if name == "old":
            key_id = made.stdout.strip().split("_")[1]
            subprocess.run([HIVELOG, "keys", "revoke", key_id, "--db", lite], check=True)
        else:
            secrets[project] = made.stdout.strip()
    keys = _keys(lite)
    assert len(keys) == 4  # a header and three keys, one revoked

    checkpoint = tmp_path / "copy.checkpoint"
    # SQLite → PostgreSQL, killed once a page is safely copied, then resumed.
    first = subprocess.Popen(
        [HIVELOG, "copy", "--from", lite, "--to", pg, "--checkpoint", str(checkpoint),
         "--page", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and first.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    resumed = _copy(lite, pg, checkpoint, "--page", "2")
    assert "(resumed)" in resumed or first.returncode == 0, resumed
    _copy(pg, ch, checkpoint)
    _copy(ch, back, checkpoint)
    for db in (pg, ch, back):
        assert _keys(db) == keys, db

    answers = []
    for db in (lite, pg, ch, back):
        with _serving(db) as srv:
            answers.append(_answers(srv, sessions, secrets))
    original, *copies = answers
    # 3 sessions (one a placeholder) of 5 events; OTLP: a named placeholder with 2 spans, a
    # trace's own session with its span
    assert original[0]["totalEvents"] == 3 * 6 + 3 + 2
    named = next(e for e in original[0]["events"] if e["event_name"] == "agent run"
                 and e["event_type"] == "session")  # fmt: skip
    assert named["session_id"].startswith("conv-")
    assert any(e["feedback"] == {"liked": True} for e in original[0]["events"])
    for db, copy in zip((pg, ch, back), copies, strict=True):
        assert copy == original, (db, _first_difference(original, copy))
    # The update whose event never came was copied too: it folds when the event arrives.
    for db in (pg, ch, back):
        auth = {"Authorization": f"Bearer {secrets[late_project]}"}
        with _serving(db) as srv, srv.client(headers=auth) as c:
            event = {"project": late_project, "event_id": missing, "event_type": "tool",
                     "metadata": {"own": 1}}  # fmt: skip
            assert c.post("/events", json={"event": event}).status_code == 200
            got = c.get(f"/v1/events/{missing}", params={"project": late_project}).json()
            assert got["metadata"] == {"own": 1, "late": True}, db
