"""Every limit, set small on a real server: body size (413), events per request (413), string
size (cut with a marker, original length in metadata, event kept), JSON depth (400), filters
per query (400), read time limit (400 query_timeout), header size (431)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import Server

LIMITS = [
    "--max-body-bytes", "200000",
    "--max-batch-events", "20",
    "--max-field-bytes", "1000",
    "--max-json-depth", "5",
    "--max-filters", "3",
    "--max-header-bytes", "4096",
]  # fmt: skip


@pytest.fixture(scope="module")
def limited(database: str) -> Iterator[Server]:
    srv = Server(database, LIMITS)
    srv.start()
    yield srv
    srv.stop()


def _ev(**fields: object) -> dict[str, object]:
    return {"event_type": "tool", "event_name": "t", **fields}


def test_body_over_the_limit_is_413(limited: Server) -> None:
    with limited.client() as c:
        r = c.post("/events", json={"event": _ev(inputs={"x": "y" * 300_000})})
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_too_many_events_in_one_request_is_413(limited: Server) -> None:
    with limited.client() as c:
        r = c.post("/events/batch", json={"events": [_ev() for _ in range(21)]})
        assert r.status_code == 413, r.text
        assert "--max-batch-events" in r.json()["error"]["message"]
        assert (
            c.post("/events/batch", json={"events": [_ev() for _ in range(20)]}).status_code == 200
        )


def test_long_strings_are_cut_with_a_marker_and_their_length_kept(limited: Server) -> None:
    project = f"p-{uuid.uuid4().hex[:8]}"
    long_text = "é" * 5000  # 10,000 UTF-8 bytes
    with limited.client() as c:
        r = c.post(
            "/events",
            json={
                "event": _ev(
                    project=project,
                    inputs={"doc": long_text, "short": "ok"},
                    outputs={"list": ["z" * 2000]},
                )
            },
        )
        assert r.status_code == 200, r.text
        event = c.post("/events/export", json={"project": project}).json()["events"][0]
    doc = event["inputs"]["doc"]
    assert doc.endswith("…[truncated by hivelog]") and len(doc.encode()) <= 1000
    assert doc.startswith("é" * 100)
    assert event["inputs"]["short"] == "ok"
    assert event["outputs"]["list"][0].endswith("[truncated by hivelog]")
    assert event["metadata"]["hivelog_truncated"] == {"inputs.doc": 10_000, "outputs.list.0": 2000}


def test_json_nested_too_deeply_is_400_naming_where(limited: Server) -> None:
    deep: object = "leaf"
    for _ in range(6):
        deep = {"d": deep}
    ok: object = "leaf"
    for _ in range(5):
        ok = {"d": ok}
    with limited.client() as c:
        r = c.post("/events", json={"event": _ev(metadata=deep)})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["where"].startswith("$.events[0].metadata.d.d.d.d.d")
        assert c.post("/events", json={"event": _ev(metadata=ok)}).status_code == 200
        very_deep = "[" * 50_000 + "]" * 50_000  # past any parser's recursion: still a 400
        r = c.post("/events", content=b'{"event": {"inputs": {"a": ' + very_deep.encode() + b"}}}")
        assert r.status_code == 400


def test_too_many_filters_is_400(limited: Server) -> None:
    f = {"field": "event_type", "operator": "is", "value": "tool"}
    with limited.client() as c:
        r = c.post("/events/export", json={"filters": [f] * 4})
        assert r.status_code == 400 and "--max-filters" in r.json()["error"]["message"]
        assert c.post("/events/export", json={"filters": [f] * 3}).status_code == 200


def test_a_read_past_the_time_limit_stops_with_a_clear_error(fresh_database: str) -> None:
    srv = Server(fresh_database, ["--read-timeout-ms", "20"])
    srv.start()
    project = f"slow-{uuid.uuid4().hex[:8]}"
    try:
        with srv.client() as c:
            for _ in range(20):
                events = [_ev(inputs={"text": f"needle {uuid.uuid4()} " * 25}) for _ in range(1000)]
                r = c.post("/events/batch", json={"project": project, "events": events})
                assert r.status_code == 200, r.text
            # a scan of 20,000 rows' JSON three times over: far more than 20 ms
            filters = [
                {"field": f"inputs.text{'x' * k}", "operator": "not contains", "value": "zzz"}
                for k in range(3)
            ]
            r = c.post("/events/export", json={"project": project, "filters": filters})
            assert r.status_code == 400, r.text[:300]
            error = r.json()["error"]
            assert error["code"] == "query_timeout", error
            assert c.get("/healthz").status_code == 200
            # the server still answers a read that fits the budget: a one-event project (a
            # count over the 20,000 rows above can itself pass 20 ms on a busy machine)
            small = f"small-{uuid.uuid4().hex[:8]}"
            assert c.post("/events", json={"event": {**_ev(), "project": small}}).status_code == 200
            quick = c.post("/events/export", json={"project": small, "limit": 5})
            assert quick.status_code == 200, quick.text[:300]
    finally:
        srv.stop()


def test_request_head_over_the_limit_is_431(limited: Server) -> None:
    with socket.create_connection(("127.0.0.1", limited.port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n")
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    with limited.client() as c:
        assert c.get("/healthz").status_code == 200
