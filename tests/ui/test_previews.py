"""Sessions list previews and cut cells in Chromium: each session's first user input and last
output read from its events, drawn cut with "…"; every cell drawn cut on any page shows its
whole value on hover (a `title`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.ui.conftest import screenshot

QUESTION = "How do I return the blue kettle I bought last week, and will I get all my money back?"
ANSWER = "You can return it within 30 days; the refund goes to the card you paid with. " * 3
LONG_NAME = "nightly batch evaluation of the customer-support agent on the refund dataset"
LONG_USER = "someone.with.a.very.long.address@example-customer-domain.com"
LONG_ERROR = "upstream model provider answered 529 overloaded after 3 retries " * 4
LONG_MODEL = "ft:gpt-4o-mini-2024-07-18:acme-corp:support-agent-v7:9xYzAbCd"


class Shown:
    def __init__(self, server: Server, project: str) -> None:
        self.server, self.project = server, project
        self.session = str(uuid.uuid4())

    def url(self, path: str, **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"project": self.project, **params}.items())
        return f"{self.server.url}{path}?{query}"


@pytest.fixture(scope="module")
def shown(server: Server) -> Iterator[Shown]:
    """One session whose session event has no inputs or outputs: a model call asked the
    question (the last user message of its history) and a later one answered."""
    s = Shown(server, f"pv-{uuid.uuid4().hex[:8]}")
    now = int(time.time() * 1000)
    history = [
        {"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": QUESTION},
    ]
    events = [
        {"session_id": s.session, "event_type": "model", "event_name": LONG_NAME,
         "start_time": now - 900, "duration": 300, "config": {"model": LONG_MODEL},
         "inputs": {"chat_history": history},
         "outputs": {"role": "assistant", "content": "", "tool_calls": [
             {"id": "c1", "type": "function",
              "function": {"name": "lookup_order", "arguments": "{}"}}]}},
        {"session_id": s.session, "event_type": "tool", "event_name": "lookup_order",
         "start_time": now - 500, "duration": 80, "inputs": {"order": "4417"},
         "outputs": {"status": "delivered"}, "error": LONG_ERROR},
        {"session_id": s.session, "event_type": "model", "event_name": "answer",
         "start_time": now - 400, "duration": 350, "config": {"model": LONG_MODEL},
         "inputs": {"chat_history": [*history, {"role": "tool", "content": "delivered"}]},
         "outputs": {"role": "assistant", "content": ANSWER}},
    ]  # fmt: skip
    with server.client() as c:
        c.post(
            "/session/start",
            json={"session": {"project": s.project, "session_id": s.session,
                              "session_name": LONG_NAME, "start_time": now - 1000,
                              "user_properties": {"user_id": LONG_USER}}},
        ).raise_for_status()  # fmt: skip
        c.post("/events/batch", json={"project": s.project, "events": events}).raise_for_status()
    yield s


def test_previews_come_from_the_sessions_events(page: Page, shown: Shown) -> None:
    page.goto(shown.url("/"))
    row = page.locator(f"tr[data-session='{shown.session}']")
    first_input, last_output = row.locator("td.preview").all()
    expect(first_input).to_have_attribute("title", QUESTION)
    expect(last_output).to_have_attribute("title", " ".join(ANSWER.split()))
    for cell in (first_input, last_output):
        drawn = page.evaluate(
            "(td) => [td.scrollWidth > td.clientWidth, getComputedStyle(td).textOverflow]",
            cell.element_handle(),
        )
        assert drawn == [True, "ellipsis"], drawn  # cut with "…" where the column ends
    screenshot(page, "sessions-previews")


# Every element drawn cut (text-overflow: ellipsis and wider than its box) and every text cut
# on the server (ending in "…") must carry its whole value in a title, its own or a parent's.
_UNTITLED_CUTS = """() => {
    const norm = (s) => s.replace(/\\s+/g, " ").replace(/…$/, "").trim();
    const bad = [];
    // not content: menus, buttons and forms ("custom range…"), code and messages shown whole
    const skip = "script, style, option, button, form, header, .j, pre, code, .msg";
    for (const el of document.querySelectorAll("body *")) {
        if (el.closest(skip)) continue;
        const cs = getComputedStyle(el);
        const drawnCut = cs.textOverflow === "ellipsis" && el.scrollWidth > el.clientWidth + 1;
        const own = Array.from(el.childNodes).filter((n) => n.nodeType === 3)
            .map((n) => n.textContent).join("").trim();
        const textCut = own.length > 1 && own.endsWith("…");
        if (!drawnCut && !textCut) continue;
        const holder = el.closest("[title]");
        const shown = el.cloneNode(true);  // the text read, without decorative icons
        shown.querySelectorAll("[aria-hidden=true]").forEach((n) => n.remove());
        const text = norm(shown.textContent), title = holder ? norm(holder.title) : "";
        const head = (s) => s.slice(0, 12);
        if (!holder || !(title.includes(head(text)) || text.includes(head(title))) ||
            title.length < text.length) {
            bad.push(el.outerHTML.slice(0, 160));
        }
    }
    return [...new Set(bad)];
}"""


@pytest.mark.parametrize("path", ["/", "/ui/events", "session", "/ui/dashboard"])
def test_every_cut_cell_shows_its_whole_value_on_hover(page: Page, shown: Shown, path: str) -> None:
    if path == "session":
        page.goto(shown.url(f"/ui/sessions/{shown.session}"))
        page.wait_for_selector("body[data-ready='1'] #detail .event")
    elif path == "/ui/dashboard":  # the per-model table's long model name
        page.goto(shown.url(path, range="24h"))
        page.wait_for_selector("table.models tbody tr")
    else:
        page.goto(shown.url(path))
        page.wait_for_selector("table.grid tbody tr")
    cut = page.evaluate(
        """() => Array.from(document.querySelectorAll("*")).filter((el) =>
            getComputedStyle(el).textOverflow === "ellipsis" && el.scrollWidth > el.clientWidth + 1
        ).length"""
    )
    if path == "/ui/dashboard":  # room enough there: the name is shown whole
        expect(page.locator("table.models tbody td").first).to_have_text(LONG_MODEL)
    else:
        assert cut > 0, "the long names, users, models and errors should be drawn cut"
    assert page.evaluate(_UNTITLED_CUTS) == []
