"""Signing in to the web UI with an API key: the key goes into an HttpOnly, SameSite=Strict
cookie, pages then show that key's project only, and the cookie can read but never write."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server
from tests.security.keyed import create_key, keyed_client


@pytest.fixture()
def keyed(fresh_database: str) -> Iterator[tuple[Server, str, str]]:
    mine, theirs = create_key(fresh_database, "mine"), create_key(fresh_database, "theirs")
    srv = Server(fresh_database)
    srv.start()
    with keyed_client(srv, mine) as c:
        c.post(
            "/session/start", json={"session": {"session_name": "my-session"}}
        ).raise_for_status()
    with keyed_client(srv, theirs) as c:
        c.post(
            "/session/start", json={"session": {"session_name": "their-session"}}
        ).raise_for_status()
    yield srv, mine, theirs
    srv.stop()


def test_pages_send_a_browser_to_sign_in(keyed: tuple[Server, str, str]) -> None:
    srv, _, _ = keyed
    with httpx.Client(base_url=srv.url, timeout=30) as browser:
        r = browser.get("/ui/events?range=7d")
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=%2Fui%2Fevents%3Frange%3D7d"
        page = browser.get("/login")
        assert page.status_code == 200 and 'name="key"' in page.text
        assert browser.get("/events").status_code == 401  # the API still answers JSON 401


def test_sign_in_keeps_the_key_in_a_strict_http_only_cookie(keyed: tuple[Server, str, str]) -> None:
    srv, mine, _ = keyed
    with httpx.Client(base_url=srv.url, timeout=30) as browser:
        wrong = browser.post("/login", data={"key": mine[:-4] + "AAAA", "next": "/"})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        assert "set-cookie" not in wrong.headers
        r = browser.post("/login", data={"key": mine, "next": "/ui/events"})
        assert r.status_code == 303 and r.headers["location"] == "/ui/events"
        cookie = r.headers["set-cookie"].lower()
        assert "hivelog_key=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        assert "path=/" in cookie
        home = browser.get("/")
        assert home.status_code == 200
        assert "my-session" in home.text and "their-session" not in home.text
        assert "Sign out" in home.text
        # the cookie reads; it never writes (no cross-site writes through a signed-in browser)
        assert browser.post("/events", json={"event": {"event_type": "tool"}}).status_code == 401
        out = browser.post("/logout")
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert browser.get("/").status_code == 303


def test_sign_in_never_redirects_off_the_server(keyed: tuple[Server, str, str]) -> None:
    srv, mine, _ = keyed
    with httpx.Client(base_url=srv.url, timeout=30) as browser:
        for bad in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
            r = browser.post("/login", data={"key": mine, "next": bad})
            assert r.status_code == 303 and r.headers["location"] == "/", bad
