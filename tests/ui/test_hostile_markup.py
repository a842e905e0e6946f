"""Stored text that looks like markup cannot break a page, and no page runs inline script.

Names and messages such as `<!--<script>` once switched the HTML parser into the script
"double escaped" state inside the JSON the session page embeds, so the tree came out empty and
the detail panel lost its sections. Every page is loaded in Chromium with the
Content-Security-Policy enforced, listening for policy violations and console errors.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.conftest import Server

HOSTILE = (
    "<!--<script>",
    "</script><!--<script>x",
    "a & b > c < d",
    "line\u2028sep\u2029para",
    "<img src=x onerror=alert(1)>",
)
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI + " " + e.sourceFile);
});
"""


class Stored:
    def __init__(self, server: Server, project: str, session_id: str, child_ids: list[str]):
        self.server = server
        self.project = project
        self.session_id = session_id
        self.child_ids = child_ids

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}?project={self.project}"


@pytest.fixture(scope="module")
def stored(server: Server) -> Iterator[Stored]:
    project = f"hostile-{uuid.uuid4().hex[:8]}"
    session_id = str(uuid.uuid4())
    now = int(time.time() * 1000)
    children: list[dict[str, Any]] = [
        {
            "event_id": str(uuid.uuid4()),
            "session_id": session_id,
            "parent_id": session_id,
            "event_type": "model",
            "event_name": name,
            "start_time": now + i,
            "duration": 10,
            "config": {"model": name},
            "inputs": {"chat_history": [{"role": "user", "content": name}]},
            "outputs": {"role": "assistant", "content": name},
            "metadata": {"note": name},
        }
        for i, name in enumerate(HOSTILE)
    ]
    with server.client() as c:
        r = c.post(
            "/session/start",
            json={
                "session": {
                    "project": project,
                    "session_id": session_id,
                    "session_name": "<!--<script>",
                    "start_time": now,
                }
            },
        )
        assert r.status_code == 200, r.text
        r = c.post("/events/batch", json={"project": project, "events": children})
        assert r.status_code == 200, r.text
    yield Stored(server, project, session_id, [e["event_id"] for e in children])


def _watch(page: Page) -> list[str]:
    """Collects CSP violations (also reported on the console) and console errors."""
    problems: list[str] = []
    page.add_init_script(WATCH)

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and "favicon.ico" not in message.location.get("url", ""):
            problems.append(f"{message.text} at {message.location}")

    page.on("console", console)
    page.on("dialog", lambda d: (problems.append(f"script ran: {d.message}"), d.dismiss()))
    return problems


def _violations(page: Page) -> list[str]:
    found: list[str] = page.evaluate("window.__violations || []")
    return found


def test_markup_in_names_and_messages_keeps_tree_and_detail_intact(
    page: Page, stored: Stored
) -> None:
    problems = _watch(page)
    page.goto(stored.url(f"/ui/sessions/{stored.session_id}"))
    tree = page.locator("[data-tree]")
    expect(tree.locator(".row")).to_have_count(1 + len(HOSTILE))
    names = tree.locator(".row .nm").all_text_contents()
    assert names[0] == "<!--<script>"
    assert sorted(names[1:]) == sorted(HOSTILE)
    expect(page.locator(".session-head h1")).to_have_text("<!--<script>")
    for name, event_id in zip(HOSTILE, stored.child_ids, strict=True):
        tree.locator(".row .nm").get_by_text(name, exact=True).last.click()
        detail = page.locator("#detail")
        # by id: the first name is the session's too, whose detail the page opens with
        expect(detail.locator("article.event")).to_have_attribute(
            "data-event", event_id, timeout=30_000
        )
        expect(detail.locator("h2")).to_have_text(name)
        # every section is there and shows the stored text, none swallowed by a parser state
        sections = detail.locator("details.section > summary")
        expect(sections).to_have_count(4)  # config, inputs, outputs, metadata
        expect(detail.locator(".chat .msg .text").first).to_have_text(name)
        metadata = detail.locator("details.section", has_text="metadata")
        expect(metadata.locator(".j-s").first).to_have_text(name)
    assert not _violations(page)
    assert not problems, problems


@pytest.mark.parametrize(
    "path", ["/", "/ui/events", "/ui/dashboard", "/ui/sessions/{session}", "/login", "/docs"]
)
def test_no_page_violates_its_content_security_policy(
    page: Page, stored: Stored, path: str
) -> None:
    problems = _watch(page)
    response = page.goto(stored.url(path.format(session=stored.session_id)))
    assert response is not None and response.status == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    page.wait_for_load_state("networkidle")
    if path == "/":
        # the live tail refreshes the list through htmx without eval
        with page.expect_response(lambda r: "/?project=" in r.url, timeout=15_000):
            pass
    if path == "/ui/dashboard":
        expect(page.locator("[data-chart] .uplot").first).to_be_visible()
        page.select_option("select[name=group]", "config.model")  # autosubmit, no inline code
        page.wait_for_url("**group=config.model**")
        expect(page.locator("[data-chart] .uplot").first).to_be_visible()
    assert not _violations(page)
    assert not problems, problems
