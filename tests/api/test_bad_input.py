"""Bad input gets a 4xx JSON error that says what and where; the server keeps serving and
nothing already stored changes."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server
from tests.helpers import export, post_ok, uid

LIMIT = 20_000


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(str(tmp_path_factory.mktemp("db") / "h.db"), ["--max-body-bytes", str(LIMIT)])
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture()
def sc(small_server: Server) -> Iterator[httpx.Client]:
    with small_server.client() as c:
        yield c


def _snapshot(client: httpx.Client, project: str) -> list[dict[str, object]]:
    return export(client, project)


CASES = [
    ("malformed JSON", "/events", b'{"event": {', 400, "$", "not valid JSON"),
    (
        "not UTF-8",
        "/events",
        b'{"event": {"event_type": "tool", "event_name": "\xff\xfe"}}',
        400,
        "$",
        "UTF-8",
    ),
    ("empty body", "/events", b"", 400, "$", "empty"),
    (
        "wrong type",
        "/events",
        b'{"event": {"event_type": "tool", "duration": "long"}}',
        400,
        "$.event.duration",
        "Expected",
    ),
    (
        "unknown event_type",
        "/events",
        b'{"event": {"event_type": "dance"}}',
        400,
        "$.event.event_type",
        "dance",
    ),
    (
        "missing event_type",
        "/events",
        b'{"event": {"inputs": {}}}',
        400,
        "$.event.event_type",
        "required",
    ),
    (
        "list for object",
        "/events",
        b'{"event": {"event_type": "tool", "inputs": [1, 2]}}',
        400,
        "$.event.inputs",
        "object",
    ),
    ("array body", "/events/batch", b"[1, 2]", 400, "$", "object"),
    (
        "bad time",
        "/events",
        b'{"event": {"event_type": "tool", "start_time": "soon"}}',
        400,
        "$.event.start_time",
        "ISO",
    ),
    (
        "non-finite",
        "/events",
        b'{"event": {"event_type": "tool", "duration": 1e999}}',
        400,
        "$.event.duration",
        "",
    ),
    (
        "huge time",
        "/events",
        b'{"event": {"event_type": "tool", "start_time": 100000000000000000000000}}',
        400,
        "$.event.start_time",
        "out of range",
    ),
    (
        "huge duration",
        "/events",
        b'{"event": {"event_type": "tool", "duration": 1e300}}',
        400,
        "$.event.duration",
        "out of range",
    ),
    ("update without id", "/events", b'{"metadata": {}}', 400, "$.event_id", "event_id"),
    ("session as number", "/session/start", b'{"session": 5}', 400, "$.session", "Expected"),
    ("bad JSON string session", "/session/start", b'{"session": "{nope"}', 400, "$", "JSON"),
]


@pytest.mark.parametrize(
    ("name", "path", "body", "status", "where", "text"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_body(
    client: httpx.Client,
    project: str,
    name: str,
    path: str,
    body: bytes,
    status: int,
    where: str,
    text: str,
) -> None:
    post_ok(
        client, "/events", {"event": {"project": project, "event_type": "tool", "event_id": "kept"}}
    )
    before = _snapshot(client, project)
    method = "PUT" if name == "update without id" else "POST"
    r = client.request(method, path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    err = r.json()
    assert err["success"] is False and err["error"]["where"] == where
    assert text in err["error"]["message"]
    assert err["message"] and err["errorCode"]
    assert client.get("/healthz").status_code == 200
    assert _snapshot(client, project) == before


def test_absurdly_deep_nesting(client: httpx.Client, project: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    body = '{"event": {"event_type": "tool", "inputs": {"x": ' + deep + "}}}"
    r = client.post("/events", content=body)
    assert r.status_code == 400 and "deep" in r.json()["error"]["message"]
    assert client.get("/healthz").status_code == 200


def test_unknown_route_and_method_are_json(client: httpx.Client) -> None:
    r = client.get("/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.patch("/events")
    assert r.status_code == 405 and "PATCH" in r.json()["error"]["message"]


def test_body_over_the_limit_is_413(sc: httpx.Client, project: str) -> None:
    big = {"event": {"project": project, "event_type": "tool", "inputs": {"x": "a" * LIMIT}}}
    r = sc.post("/events", json=big)
    assert r.status_code == 413 and str(LIMIT) in r.json()["error"]["message"]
    # chunked, so no Content-Length to refuse early: counted while read
    r = sc.post(
        "/events",
        content=iter([json.dumps(big).encode()]),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413
    assert sc.get("/healthz").status_code == 200


def test_compressed_bodies(sc: httpx.Client, project: str) -> None:
    ok = json.dumps(
        {"event": {"project": project, "event_type": "tool", "event_id": "gz"}}
    ).encode()
    assert (
        sc.post(
            "/events", content=gzip.compress(ok), headers={"content-encoding": "gzip"}
        ).status_code
        == 200
    )
    assert (
        sc.post(
            "/events", content=zlib.compress(ok), headers={"content-encoding": "deflate"}
        ).status_code
        == 200
    )
    bomb = gzip.compress(
        json.dumps({"event": {"event_type": "tool", "inputs": {"x": "a" * 10 * LIMIT}}}).encode()
    )
    assert len(bomb) < LIMIT
    r = sc.post("/events", content=bomb, headers={"content-encoding": "gzip"})
    assert r.status_code == 413
    r = sc.post("/events", content=b"not gzip at all", headers={"content-encoding": "gzip"})
    assert r.status_code == 400 and r.json()["error"]["where"] == "body"
    r = sc.post("/events", content=gzip.compress(ok)[:-12], headers={"content-encoding": "gzip"})
    assert r.status_code == 400
    r = sc.post("/events", content=ok, headers={"content-encoding": "br"})
    assert r.status_code == 400 and r.json()["error"]["where"] == "Content-Encoding"
    # the event and its session, once: the resend of "gz" left no second session behind
    assert len(export(sc, project)) == 2


def test_many_bad_requests_do_not_hurt_a_good_one(client: httpx.Client, project: str) -> None:
    for body, _ in [(c[2], c) for c in CASES] * 3:
        client.post("/events", content=body)
    eid = uid()
    post_ok(
        client, "/events", {"event": {"project": project, "event_type": "tool", "event_id": eid}}
    )
    assert [e["event_id"] for e in export(client, project) if e["event_type"] == "tool"] == [eid]
