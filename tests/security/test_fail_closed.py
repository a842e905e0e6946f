"""Fail closed: a database that has had API keys stays closed when the last key is revoked.

The life cycle over real HTTP and the real CLI, on both backends: open → a key is created
(closed to requests without it) → the last key is revoked (still closed: every request 401,
saying why and what to do; the log says so) → restart (still closed, the banner says so) →
`hivelog keys open` (open again, noticed by the running server) → a new key closes it again.
Across processes: every worker of a `--workers 2` PostgreSQL server (two servers on one file for
SQLite) notices a revocation within the key cache interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import Server
from tests.security.keyed import create_key, hivelog

EVENT = {"event": {"event_type": "tool", "event_name": "x", "project": "fc"}}


def _status(server: Server, key: str | None = None, path: str = "/events") -> httpx.Response:
    """A request on a connection of its own (so `--workers` spreads them over processes)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if path == "/events":
        return httpx.post(server.url + path, json=EVENT, headers=headers, timeout=30)
    return httpx.get(server.url + path, headers=headers, timeout=30, follow_redirects=False)


def _until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _all(servers: list[Server], key: str | None, status: int, n: int = 12) -> bool:
    return all(_status(s, key).status_code == status for s in servers for _ in range(n))


def _key_id(key: str) -> str:
    return key.split("_")[1]


@pytest.fixture()
def fresh(fresh_database: str) -> Iterator[Server]:
    srv = Server(fresh_database)
    srv.start()
    yield srv
    srv.stop()


def test_revoking_the_last_key_keeps_the_server_closed_until_opened_explicitly(
    fresh: Server,
) -> None:
    srv = fresh
    assert _status(srv).status_code == 200  # a database that never had keys runs open

    key = create_key(srv.db, "fc")
    _until(lambda: _status(srv).status_code == 401, "a new key did not close the server")
    assert _status(srv, key).status_code == 200

    revoked = hivelog("keys", "revoke", _key_id(key), "--db", srv.db)
    assert "last active key" in revoked.stderr and "hivelog keys open" in revoked.stderr
    _until(lambda: _status(srv, key).status_code == 401, "the revoked key still worked")
    for path in ("/events", "/events?project=fc", "/v1/events/chart"):
        r = _status(srv, None, path)
        assert r.status_code == 401, (path, r.status_code, r.text)
        message = r.json()["error"]["message"]
        assert "no active API key" in message and "hivelog keys open" in message
    page = _status(srv, None, "/ui/sessions")
    assert page.status_code == 303  # a person is sent to sign in, where the page says why
    login = httpx.get(srv.url + "/login", timeout=30)
    assert "no active API key" in login.text and "hivelog keys open" in login.text
    _until(lambda: "auth: CLOSED" in srv.log(), "the log did not say the server is closed")

    srv.restart()
    assert "auth: CLOSED" in srv.log() and "hivelog keys open --db" in srv.log()
    assert _status(srv).status_code == 401
    assert _status(srv, key).status_code == 401

    opened = hivelog("keys", "open", "--db", srv.db)
    assert "opened" in opened.stderr
    _until(lambda: _status(srv).status_code == 200, "`keys open` was not noticed")
    srv.restart()
    assert _status(srv).status_code == 200
    assert srv.log().count("auth: OPEN") == 2  # the first start and this one

    # opening is not for ever: a new key closes the database again, and revoking it keeps
    # it closed
    again = create_key(srv.db, "fc")
    hivelog("keys", "revoke", _key_id(again), "--db", srv.db)
    _until(lambda: _status(srv, again).status_code == 401, "the revoked key still worked")
    assert _status(srv).status_code == 401


def test_keys_open_is_refused_while_a_key_is_active(fresh_database: str) -> None:
    key = create_key(fresh_database, "fc")
    done = hivelog("keys", "open", "--db", fresh_database, check=False)
    assert done.returncode != 0 and "revoke them first" in done.stderr
    hivelog("keys", "revoke", _key_id(key), "--db", fresh_database)
    assert hivelog("keys", "open", "--db", fresh_database).returncode == 0


def test_every_server_process_notices_the_last_revocation(
    backend: str, fresh_database: str
) -> None:
    key = create_key(fresh_database, "fc")
    if backend == "postgres":
        servers = [Server(fresh_database, ["--workers", "2"])]
    else:  # SQLite runs one process per server; two servers share the file
        servers = [Server(fresh_database), Server(fresh_database)]
    for s in servers:
        s.start(timeout=120)  # worker processes start slowly on a busy machine
    try:
        assert _all(servers, key, 200) and _all(servers, None, 401)
        hivelog("keys", "revoke", _key_id(key), "--db", fresh_database)
        _until(lambda: _all(servers, key, 401), "a server process still took the revoked key")
        assert _all(servers, None, 401, n=24)
        hivelog("keys", "open", "--db", fresh_database)
        _until(lambda: _all(servers, None, 200), "a server process did not notice `keys open`")
    finally:
        for s in servers:
            s.stop()
