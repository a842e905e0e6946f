"""Security headers on every answer, and pages that carry no inline script.

The Content-Security-Policy allows scripts from the server's own /static files only, so a page
must hold no `<script>` with code in it (only `src=` or `type="application/json"` data) and no
`on...=` event handler attribute; both are checked on the HTML the server really sends.
"""

from __future__ import annotations

import html.parser
import uuid

import httpx
import pytest

from tests.conftest import Server

EXPECTED = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


class _Scripts(html.parser.HTMLParser):
    """Collects inline scripts and event-handler attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        # on...= handlers, and htmx's hx-on (which would need eval)
        self.handlers += [f"<{tag} {k}>" for k in names if k.startswith(("on", "hx-on"))]
        if tag == "script":
            data = names.get("type") == "application/json"
            self._in_script = "src" not in names and not data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data.strip()[:80])


@pytest.fixture(scope="module")
def session(server: Server) -> tuple[str, str]:
    project = f"hdr-{uuid.uuid4().hex[:8]}"
    with server.client() as c:
        r = c.post("/session/start", json={"session": {"project": project, "session_name": "s"}})
        assert r.status_code == 200, r.text
        sid = r.json()["session_id"]
        r = c.post(
            "/events",
            json={"event": {"project": project, "session_id": sid, "event_type": "tool"}},
        )
        assert r.status_code == 200, r.text
        return project, sid


def _check_headers(r: httpx.Response) -> None:
    for name, value in EXPECTED.items():
        assert r.headers.get(name) == value, (r.request.url, name, r.headers.get(name))
    policy = r.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline' " not in policy.split("style-src")[0]
    assert "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy


def test_every_page_has_the_headers_and_no_inline_script(
    server: Server, session: tuple[str, str]
) -> None:
    project, sid = session
    with server.client() as c:
        event_id = c.get(f"/v1/sessions/{sid}").json()["children"][0]["event_id"]
        pages = [
            f"/?project={project}",
            f"/?project=empty-{uuid.uuid4().hex[:6]}",  # the empty project's snippets
            f"/ui/events?project={project}",
            f"/ui/dashboard?project={project}",
            f"/ui/sessions/{sid}?project={project}",
            f"/ui/event/{event_id}?project={project}",
            f"/ui/sessions/{sid}/usage?project={project}",
            "/login",
            "/docs",
            "/ui/no-such-page",
        ]
        for path, htmx in [(p, False) for p in pages] + [(p, True) for p in pages[:7]]:
            r = c.get(path, headers={"HX-Request": "true"} if htmx else {})
            assert r.status_code == (404 if "no-such" in path else 200), (path, r.status_code)
            assert r.headers["content-type"].startswith("text/html")
            _check_headers(r)
            parser = _Scripts()
            parser.feed(r.text)
            assert not parser.inline, (path, parser.inline)
            assert not parser.handlers, (path, parser.handlers)
        for path in ("/healthz", "/static/app.js", "/no-such-route", f"/v1/sessions/{sid}"):
            _check_headers(c.get(path))
        _check_headers(c.post("/events", content=b"{"))  # a 400 too
