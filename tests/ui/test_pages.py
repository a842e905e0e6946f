"""The web UI end to end: a real server seeded through its real routes, driven by Chromium.

Every page is opened, filtered and searched; the session tree is collapsed and expanded; an
event's chat messages are read; the dashboard's charts are drawn; and a session posted while
the sessions page is open appears on it without a reload.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.ui.conftest import screenshot
from tests.ui.seed import big_session, post_session

N_SESSIONS = 12
BIG = 3000


class Seeded:
    def __init__(self, server: Server, project: str) -> None:
        self.server = server
        self.project = project
        self.ids: list[str] = []
        self.big = ""

    def url(self, path: str, **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"project": self.project, **params}.items())
        return f"{self.server.url}{path}?{query}"


@pytest.fixture(scope="module")
def seeded(server: Server) -> Iterator[Seeded]:
    s = Seeded(server, f"ui-{uuid.uuid4().hex[:8]}")
    now = int(time.time() * 1000)
    with server.client() as c:
        s.big = big_session(c, s.project, BIG, now - 2 * 3_600_000)
        s.ids = [
            post_session(c, s.project, i, now - (N_SESSIONS - i) * 60_000)
            for i in range(N_SESSIONS)
        ]
    yield s


def rows(page: Page) -> int:
    return page.locator("table.sessions tbody tr").count()


def summary(page: Page) -> str:
    return page.locator("#results .summary strong").inner_text()


def test_sessions_page_lists_sessions_newest_first(page: Page, seeded: Seeded) -> None:
    page.goto(seeded.url("/"))
    expect(page.locator("table.sessions tbody tr")).to_have_count(N_SESSIONS + 1)
    headers = page.locator("table.sessions thead th").all_inner_texts()
    assert headers == ["Name", "Input", "Output", "Start", "Duration", "Events", "Model calls",
                       "Tokens", "Cost", "Errors", "Feedback", "User", "Source"]  # fmt: skip
    first = page.locator("table.sessions tbody tr").first
    assert "support chat 11" in first.inner_text()
    cells = first.locator("td").all_inner_texts()
    assert cells[5] == "4" and cells[6] == "2"  # events, model calls
    assert cells[11] == "user-2" and cells[12] == "production"
    assert cells[1] == "我的包裹在哪里？"  # session 11's question
    assert cells[2] == "您的包裹已经发货了。"  # and its last model call's answer
    big = page.locator(f"tr[data-session='{seeded.big}'] td").all_inner_texts()
    assert big[5] == f"{BIG - 1:,}"
    assert big[1] == "question 1" and big[2] == f"answer {BIG - 3}"  # first and last model calls
    # session 4 and 9 have a failed tool call: the row and its count say so
    failing = page.locator(f"tr[data-session='{seeded.ids[4]}']")
    expect(failing).to_have_class(re.compile("has-error"))
    screenshot(page, "sessions")


def test_filters_and_search(page: Page, seeded: Seeded) -> None:
    page.goto(seeded.url("/"))
    expect(page.locator("table.sessions tbody tr")).to_have_count(N_SESSIONS + 1)
    page.get_by_role("button", name="+ Filter").click()
    row = page.locator(".frow").last
    row.locator("input[name=f]").fill("source")
    row.locator("select[name=op]").select_option("is")
    row.locator("input[name=v]").fill("production")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#results .summary strong")).to_have_text("6")  # odd sessions
    assert "source=production" not in page.url or "f=source" in page.url

    # search, in Japanese, on top of the filter: sessions 1, 5, 9
    page.get_by_label("Search").fill("東京の天気")
    page.get_by_label("Search").press("Enter")
    expect(page.locator("#results .summary strong")).to_have_text("3")
    names = page.locator("table.sessions td.name a").all_inner_texts()
    assert sorted(names) == ["support chat 1", "support chat 5", "support chat 9"]

    # Russian, any case, and a two-character Chinese word (below the trigram length)
    page.goto(seeded.url("/", q="ВЕРНУТЬ"))
    expect(page.locator("#results .summary strong")).to_have_text("3")  # 2, 6, 10
    page.goto(seeded.url("/", q="包裹"))
    expect(page.locator("#results .summary strong")).to_have_text("3")  # 3, 7, 11

    # filters on any event of the session: the model is on model events, not the session
    page.goto(seeded.url("/", f="config.model", op="is", v="claude-3-5-sonnet", match="event"))
    expect(page.locator("#results .summary strong")).to_have_text("4")  # 1, 4, 7, 10
    page.goto(seeded.url("/", f="config.model", op="is", v="claude-3-5-sonnet"))
    expect(page.locator("#results .summary strong")).to_have_text("0")
    expect(page.locator("#results .nothing")).to_be_visible()

    # a bad field is explained in the page, not a stack trace
    page.goto(seeded.url("/", f="nonsense", op="is", v="1"))
    expect(page.locator("#results .error-box")).to_contain_text("unknown field")


def test_session_tree_timeline_and_chat(page: Page, seeded: Seeded) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(seeded.url(f"/ui/sessions/{seeded.ids[4]}"))
    tree = page.locator("[data-tree]")
    expect(tree.locator(".row")).to_have_count(5)  # session, chain, model, tool, model
    names = tree.locator(".row .nm").all_inner_texts()
    assert names == ["support chat 4", "answer", "plan", "lookup_order", "answer"]
    # the failed tool call is highlighted, and every row has a bar on the shared time axis
    expect(tree.locator(".row.err .nm")).to_have_text("lookup_order")
    assert tree.locator(".row .bar").count() == 5
    expect(page.locator("[data-axis] span")).to_have_count(5)

    # collapse and expand the chain
    chain = tree.locator(".row", has_text="answer").first
    chain.locator("[data-caret]").click()
    expect(tree.locator(".row")).to_have_count(2)
    tree.locator(".row", has_text="answer").first.locator("[data-caret]").click()
    expect(tree.locator(".row")).to_have_count(5)

    # the final model call: its conversation by role, with the tool call and its result
    tree.locator(".row").nth(4).click()
    detail = page.locator("#detail")
    expect(detail.locator(".msg")).to_have_count(5)
    expect(detail.locator(".msg.r-system")).to_contain_text("helpful support agent")
    expect(detail.locator(".msg.r-user")).to_contain_text("Where is my order")
    expect(detail.locator(".msg.r-assistant .tool-call code").first).to_have_text("lookup_order")
    expect(detail.locator(".msg.r-tool")).to_contain_text("shipped")
    expect(detail.locator(".msg.out")).to_contain_text("ships today")
    expect(detail.locator("details.section summary").first).to_contain_text("config")
    detail.locator("details.section", has_text="config").locator("[data-copy-raw]").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert '"model": "claude-3-5-sonnet"' in copied
    screenshot(page, "session")

    # the failed tool call shows its error
    tree.locator(".row.err").click()
    expect(detail.locator(".error-box")).to_contain_text("timed out")


def test_big_session_is_virtualised(page: Page, seeded: Seeded) -> None:
    """The big session opens and only a window of its rows is in the DOM. How fast it opens
    is bench/ui.py's figure (a timed assertion here would fail on a busy machine)."""
    page.goto(seeded.url(f"/ui/sessions/{seeded.big}"))
    page.wait_for_selector("body[data-ready='1']")
    expect(page.locator("#detail .event")).to_be_visible()
    expect(page.locator("[data-tree-count]")).to_have_text(f"{BIG:,} events")
    page.get_by_role("button", name="Expand all").click()
    in_dom = page.locator("[data-tree] .row").count()
    assert 10 < in_dom < 200, f"{in_dom} rows in the DOM: the list is not virtualised"
    # jump to the last event by name: its ancestors open and it scrolls into view
    find = page.get_by_label("Find event by name")
    find.fill(f"call {BIG - 3}")
    find.press("Enter")
    expect(page.locator("[data-tree] .row.sel .nm")).to_have_text(f"call {BIG - 3}")
    expect(page.locator("#detail h2")).to_have_text(f"call {BIG - 3}")


def test_events_explorer_sorts_filters_and_links(page: Page, seeded: Seeded) -> None:
    page.goto(seeded.url("/ui/events", f="event_type", op="is", v="tool", range="24h"))
    big_tools = sum(1 for k in range(BIG - 1) if k % 10 and k % 2 == 0)  # as seed.big_session
    expect(page.locator("#results .summary strong")).to_have_text(f"{N_SESSIONS + big_tools:,}")
    page.goto(seeded.url("/ui/events", f="event_name", op="is", v="answer"))
    expect(page.locator("#results .summary strong")).to_have_text(str(2 * N_SESSIONS))
    page.get_by_role("link", name="Duration").click()
    expect(page.locator("th[aria-sort='descending']")).to_contain_text("Duration")
    durations = page.locator("table.events tbody td.num").first.inner_text()
    assert durations == "1.40 s"  # the chains
    page.get_by_role("link", name=re.compile("^Duration")).click()
    expect(page.locator("th[aria-sort='ascending']")).to_contain_text("Duration")
    screenshot(page, "events")
    # an event's link opens its session with that event selected
    link = page.locator("table.events tbody td.name a").first
    name = link.inner_text()
    link.click()
    page.wait_for_selector("body[data-ready='1']")
    expect(page.locator("#detail h2")).to_have_text(name)
    expect(page.locator("[data-tree] .row.sel .nm")).to_have_text(name)


def test_dashboard_draws_charts(page: Page, seeded: Seeded) -> None:
    page.goto(seeded.url("/ui/dashboard", range="24h"))
    page.wait_for_selector("[data-charts][data-ready='1']")
    charts = page.locator("figure.chart")
    expect(charts).to_have_count(7)
    expect(page.locator("figure.chart .uplot")).to_have_count(7)
    assert page.locator("figure[data-chart=latency] .u-legend").inner_text().count("p9") == 2
    screenshot(page, "dashboard")
    page.get_by_label("Group by").select_option("config.model")
    page.wait_for_selector("[data-charts][data-ready='1']")
    legend = page.locator("figure[data-chart=tokens] .u-legend").inner_text()
    assert "gpt-4o" in legend and "claude-3-5-sonnet" in legend


def test_new_session_appears_without_reload(page: Page, server: Server) -> None:
    project = f"tail-{uuid.uuid4().hex[:8]}"
    page.goto(f"{server.url}/?project={project}")
    # an empty project tells a new user how to send the first event
    empty = page.locator(".empty")
    expect(empty).to_contain_text("curl -X POST")
    expect(empty).to_contain_text("from hivelog_client import Logger")
    expect(empty).to_contain_text("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    screenshot(page, "empty")
    page.evaluate("window.__same_page = true")
    with httpx.Client(base_url=server.url) as c:
        post_session(c, project, 7, int(time.time() * 1000))
    expect(page.locator("table.sessions tbody tr")).to_have_count(1, timeout=10_000)
    expect(page.locator("table.sessions td.name a")).to_have_text("support chat 7")
    assert page.evaluate("window.__same_page === true"), "the page reloaded"
    with httpx.Client(base_url=server.url) as c:
        post_session(c, project, 8, int(time.time() * 1000))
    expect(page.locator("table.sessions tbody tr")).to_have_count(2, timeout=10_000)
    assert page.evaluate("window.__same_page === true")
