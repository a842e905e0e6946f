"""API keys over real HTTP: 401 without a valid key, keys never logged, revocation, serve refusing
to listen beyond loopback without keys, and a key's project winning over the one a body names."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import HIVELOG, Server
from tests.security.keyed import create_key, hivelog, keyed_client


@pytest.fixture(scope="module")
def keyed(database: str) -> Iterator[tuple[Server, str, str]]:
    """A server whose database has keys for projects alpha and beta before it starts."""
    alpha = create_key(database, "alpha", "first")
    beta = create_key(database, "beta")
    srv = Server(database)
    srv.start()
    yield srv, alpha, beta
    srv.stop()


def _event(name: str = "tool call") -> dict[str, object]:
    return {"event": {"event_type": "tool", "event_name": name, "inputs": {"q": "x"}}}


def test_missing_wrong_and_malformed_keys_get_401_json(keyed: tuple[Server, str, str]) -> None:
    srv, alpha, _ = keyed
    with srv.client() as c:
        assert c.get("/healthz").status_code == 200  # public: says nothing about any data
        assert c.get("/openapi.json").status_code == 200
        wrong = alpha[:-4] + ("AAAA" if not alpha.endswith("AAAA") else "BBBB")
        for headers in (
            {},
            {"Authorization": f"Bearer {wrong}"},
            {"Authorization": "Bearer hl_00000000_" + "x" * 43},
            {"Authorization": "Bearer not-a-key"},
            {"Authorization": f"Basic {alpha}"},
        ):
            r = c.post("/events", json=_event(), headers=headers)
            assert r.status_code == 401, (headers, r.text)
            assert r.json()["error"]["code"] == "unauthorized"
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert alpha not in r.text
            r = c.post("/events/export", json={}, headers=headers)
            assert r.status_code == 401
        ok = c.post("/events", json=_event(), headers={"Authorization": f"Bearer {alpha}"})
        assert ok.status_code == 200, ok.text
        also = c.post("/events", json=_event(), headers={"X-API-Key": alpha})
        assert also.status_code == 200, also.text


def test_keys_are_never_logged(keyed: tuple[Server, str, str]) -> None:
    srv, alpha, beta = keyed
    with keyed_client(srv, alpha) as c:
        c.post("/events", json={"event": {"event_type": "nonsense"}})  # a 400 logs nothing
        c.get("/v1/sessions/" + str(uuid.uuid4()))
    with srv.client() as c:
        c.post("/events", json=_event(), headers={"Authorization": f"Bearer {alpha}x"})
    log = srv.log()
    for key in (alpha, beta):
        secret = key.split("_", 2)[2]  # hl_<key_id>_<secret>: the secret may hold "_"
        assert secret[:16] not in log


def test_created_key_works_and_revoked_key_stops_within_seconds(
    keyed: tuple[Server, str, str],
) -> None:
    srv, _, _ = keyed
    key = create_key(srv.db, "gamma", "temp")
    key_id = key.split("_")[1]

    def status() -> int:
        with keyed_client(srv, key) as c:
            return c.post("/events", json=_event()).status_code

    deadline = time.monotonic() + 5
    while status() != 200:
        assert time.monotonic() < deadline, "a new key was not accepted within 5 s"
        time.sleep(0.2)
    listed = hivelog("keys", "list", "--db", srv.db).stdout
    assert key_id in listed and "gamma" in listed and key not in listed
    hivelog("keys", "revoke", key_id, "--db", srv.db)
    deadline = time.monotonic() + 5
    while status() != 401:
        assert time.monotonic() < deadline, "a revoked key still worked after 5 s"
        time.sleep(0.2)
    again = hivelog("keys", "revoke", key_id, "--db", srv.db, check=False)
    assert again.returncode != 0


def test_a_body_naming_another_project_is_refused(keyed: tuple[Server, str, str]) -> None:
    srv, alpha, _ = keyed
    with keyed_client(srv, alpha) as c:
        body = {"event": {**_event()["event"], "project": "beta"}}  # type: ignore[dict-item]
        r = c.post("/events", json=body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
        r = c.post("/events/batch", json={"project": "beta", "events": [_event()["event"]]})
        assert r.status_code == 403
        assert c.post("/events/export", json={"project": "beta"}).status_code == 403
        assert c.get("/events", params={"project": "beta"}).status_code == 403
        # naming its own project is fine; naming none means the key's project
        body = {"event": {**_event("own")["event"], "project": "alpha"}}  # type: ignore[dict-item]
        created = c.post("/events", json=body)
        assert created.status_code == 200
        got = c.post(
            "/events/export",
            json={
                "filters": [
                    {"field": "event_id", "operator": "is", "value": created.json()["event_id"]}
                ]
            },
        ).json()
        assert got["totalEvents"] == 1


def test_serve_refuses_all_interfaces_without_keys(tmp_path: object) -> None:
    import subprocess
    from pathlib import Path

    db = str(Path(str(tmp_path)) / "open.db")
    done = subprocess.run(
        [HIVELOG, "serve", "--host", "0.0.0.0", "--port", "1", "--db", db],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "hivelog keys create --project" in done.stderr and "--insecure" in done.stderr


def test_loopback_server_without_keys_runs_open_and_says_so(fresh_server: Server) -> None:
    assert "auth: OPEN" in fresh_server.log()
    with fresh_server.client() as c:
        assert c.post("/events", json=_event()).status_code == 200


def test_keyed_server_says_keys_are_required(keyed: tuple[Server, str, str]) -> None:
    srv, _, _ = keyed
    assert "auth: API keys required" in srv.log()
    with httpx.Client(base_url=srv.url) as c:
        page = c.get("/ui/sessions")  # a page sends the browser to sign in; no data either way
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
