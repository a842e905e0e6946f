"""The UI as a workbench, in Chromium against a real server: feedback stored through the
update path and read back through the API, costs that say when they are unknown, Markdown
rendered safely, the JSON viewer, styled pages for every URL, dark mode, local time,
downloads, and 390 px wide screens."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.conftest import HIVELOG, Server
from tests.ui.conftest import screenshot
from tests.ui.seed import post_session

MARKDOWN = (
    "# Plan\n\nHere is **bold**, a [link](https://example.com/docs) and code:\n\n"
    "```python\nprint('hi')\n```\n\n<script>window.__pwned = 1</script>\n\n"
    '<img src=x onerror="window.__pwned = 2">\n\n[bad](javascript:window.__pwned=3)\n'
)
QUESTION = "Please look at the picture and tell me " + "very " * 30 + "precisely what it is."
LONG_SYSTEM = "You are a careful agent.\n" + "\n".join(f"Rule {i}: be kind." for i in range(40))
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ"
    "DwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

PHOTO = "https://images.example.test/cat.png"  # served by the test (page.route)
SVG = "data:image/svg+xml;base64," + base64.b64encode(b"<svg onload='alert(1)'/>").decode()


class Demo:
    def __init__(self, server: Server, project: str) -> None:
        self.server = server
        self.project = project
        self.session = str(uuid.uuid4())
        self.rich = str(uuid.uuid4())  # markdown, an image, tokens of every kind
        self.unpriced = str(uuid.uuid4())  # a model nobody has a price for
        self.sessions: list[str] = []

    def url(self, path: str, **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"project": self.project, **params}.items())
        return f"{self.server.url}{path}?{query}"


@pytest.fixture(scope="module")
def demo(server: Server) -> Iterator[Demo]:
    d = Demo(server, f"wb-{uuid.uuid4().hex[:8]}")
    now = int(time.time() * 1000)
    events: list[dict[str, Any]] = [
        {
            "event_id": d.rich, "session_id": d.session, "parent_id": d.session,
            "event_type": "model", "event_name": "draft", "start_time": now - 5000,
            "duration": 900, "config": {"model": "gpt-4o", "provider": "openai"},
            "inputs": {"chat_history": [
                {"role": "system", "content": LONG_SYSTEM},
                {"role": "user", "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": PIXEL}},
                    {"type": "image", "source": {"type": "url", "url": PHOTO}},
                    {"type": "image_url", "image_url": {"url": SVG}},  # may hold script
                    {"type": "image_url", "image_url": {"url": "javascript:alert(1)"}},
                ]},
            ]},
            "outputs": {"role": "assistant", "content": MARKDOWN},
            "metadata": {"prompt_tokens": 1200, "completion_tokens": 300, "cached_tokens": 1000,
                         "reasoning_tokens": 100},
            "user_properties": {"user_id": "u-42", "plan": "pro"},
        },
        {
            "event_id": d.unpriced, "session_id": d.session, "parent_id": d.session,
            "event_type": "model", "event_name": "local model", "start_time": now - 3000,
            "duration": 400, "config": {"model": "my-own-finetune-xyz"},
            "inputs": {"chat_history": [{"role": "user", "content": "hello"}]},
            "outputs": {"role": "assistant", "content": "hi"},
            "metadata": {"prompt_tokens": 5, "completion_tokens": 2},
        },
    ]  # fmt: skip
    with server.client() as c:
        c.post(
            "/session/start",
            json={"session": {"project": d.project, "session_id": d.session,
                              "session_name": "workbench demo", "start_time": now - 6000,
                              "inputs": {"chat_history": [
                                  {"role": "system", "content": "Be brief."},
                                  {"role": "user", "content": QUESTION}]}}},
        ).raise_for_status()  # fmt: skip
        c.post("/events/batch", json={"project": d.project, "events": events}).raise_for_status()
        c.put("/events", json={"event_id": d.session, "outputs": {"answer": "It is a pixel."}})
        d.sessions = [post_session(c, d.project, i, now - (10 - i) * 60_000) for i in range(6)]
    yield d


def event_json(server: Server, event_id: str) -> dict[str, Any]:
    with server.client() as c:
        r = c.get(f"/v1/events/{event_id}")
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body


def context(browser: Browser, **options: Any) -> BrowserContext:
    ctx = browser.new_context(**{"viewport": {"width": 1440, "height": 900}, **options})
    ctx.set_default_timeout(15_000)
    return ctx


# ---- 1. feedback --------------------------------------------------------------------------


def test_feedback_round_trips_through_the_api(page: Page, demo: Demo) -> None:
    page.goto(demo.url(f"/ui/sessions/{demo.session}") + f"#event={demo.rich}")
    detail = page.locator("#detail")
    expect(detail.locator("h2")).to_have_text("draft")
    form = detail.locator("form[data-feedback]")
    form.get_by_label("Comment").fill("Clear and correct")
    form.get_by_label("Metrics and labels").fill("accuracy=0.9, topic=billing")
    form.get_by_role("button", name="4★").click()
    expect(detail.locator("[data-feedback-status]")).to_have_text("Saved")
    stored = event_json(demo.server, demo.rich)
    assert stored["feedback"] == {"rating": 4, "comment": "Clear and correct", "topic": "billing"}
    assert stored["metrics"] == {"accuracy": 0.9}
    # the tree marks the event, the panel shows what is stored
    expect(page.locator("[data-tree] .row.sel .mark")).to_be_visible()
    expect(detail.locator(".stored-feedback")).to_contain_text("Clear and correct")
    expect(detail.locator(".star[aria-pressed='true']")).to_have_text("4★")

    # opened again, the tree still marks it (the marks come after the page, with the totals)
    page.reload()
    page.wait_for_selector("body[data-marked='1']")
    expect(page.locator("[data-tree] .row", has_text="draft").locator(".mark")).to_be_visible()
    unmarked = page.locator("[data-tree] .row", has_text="local model")
    expect(unmarked.locator(".mark")).to_have_count(0)
    # a second rating merges with the first (PUT /events semantics): the comment stays
    detail.locator(".star", has_text="5★").click()
    expect(detail.locator("[data-feedback-status]")).to_have_text("Saved")
    stored = event_json(demo.server, demo.rich)
    assert stored["feedback"]["rating"] == 5 and stored["feedback"]["comment"]
    # the API's update and the UI's merge too
    with demo.server.client() as c:
        c.put("/events", json={"event_id": demo.rich, "metrics": {"relevance": 1}})
    assert event_json(demo.server, demo.rich)["metrics"] == {"accuracy": 0.9, "relevance": 1}

    # feedback on the session shows in the list, and filters find it
    page.locator("[data-tree] .row", has_text="workbench demo").click()
    expect(page.locator("#detail h2")).to_have_text("workbench demo")
    page.locator("#detail .star", has_text="2★").click()
    expect(page.locator("#detail [data-feedback-status]")).to_have_text("Saved")
    page.goto(demo.url("/", f="feedback.rating", op="is", v="2"))
    expect(page.locator("#results .summary strong")).to_have_text("1")
    row = page.locator(f"tr[data-session='{demo.session}']")
    expect(row.locator("td.fb-cell")).to_contain_text("★ 2")
    page.goto(demo.url("/ui/events", f="metrics.accuracy", op="greater than", v="0.5"))
    expect(page.locator("#results .summary strong")).to_have_text("1")
    expect(page.locator("table.events td.fb-cell")).to_contain_text("★ 5")
    page.goto(demo.url(f"/ui/sessions/{demo.session}"))
    expect(page.locator(".session-head .fb")).to_have_text("★ 2")


def test_feedback_needs_the_pages_token_and_origin(demo: Demo) -> None:
    url = f"/ui/feedback/{demo.unpriced}?project={demo.project}"
    with demo.server.client() as c:
        page = c.get(demo.url("/"))
        token = re.search(r'name="hivelog-csrf" content="([0-9a-f]+)"', page.text)
        assert token is not None
        good = {"X-Hivelog-CSRF": token.group(1)}
        # a form post (what a cross-site page can send without a preflight) is refused
        r = c.post(url, data={"rating": "1"})
        assert r.status_code == 403 and r.json()["error"]["where"] == "x-hivelog-csrf"
        assert c.post(url, json={"rating": 1}).status_code == 403  # no token
        assert (
            c.post(url, json={"rating": 1}, headers={"X-Hivelog-CSRF": "0" * 64}).status_code == 403
        )
        for hostile in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
            assert c.post(url, json={"rating": 1}, headers={**good, **hostile}).status_code == 403
        assert c.post(url, json={"rating": 9}, headers=good).status_code == 400
        assert c.post(url, json={}, headers=good).status_code == 400
        missing = f"/ui/feedback/{uuid.uuid4()}?project={demo.project}"
        assert c.post(missing, json={"rating": 1}, headers=good).status_code == 404
        assert (
            "feedback" not in event_json(demo.server, demo.unpriced)
            or not event_json(demo.server, demo.unpriced)["feedback"]
        )
        ok = c.post(url, json={"rating": 3}, headers={**good, "Sec-Fetch-Site": "same-origin"})
        assert ok.status_code == 200
    assert event_json(demo.server, demo.unpriced)["feedback"] == {"rating": 3}


def test_a_cross_site_page_cannot_annotate(browser: Browser, demo: Demo) -> None:
    """A page on another site (localhost is another site than 127.0.0.1) tries a form post
    and a fetch to the feedback route: nothing is stored."""
    ctx = context(browser)
    target = f"{demo.server.url}/ui/feedback/{demo.session}?project={demo.project}"
    evil = ctx.new_page()
    evil.route(
        "http://localhost:9/evil",
        lambda route: route.fulfill(content_type="text/html", body="<h1>evil</h1>"),
    )
    evil.goto("http://localhost:9/evil")
    before = event_json(demo.server, demo.session).get("feedback")
    evil.evaluate(
        """async (target) => {
        const body = JSON.stringify({rating: 1, comment: "pwned"});
        await fetch(target, {method: "POST", mode: "no-cors", credentials: "include",
                             headers: {"Content-Type": "text/plain"}, body}).catch(() => null);
        await fetch(target, {method: "POST", credentials: "include",
                             headers: {"Content-Type": "application/json", "X-Hivelog-CSRF": "x"},
                             body}).catch(() => null);
      }""",
        target,
    )
    with evil.expect_navigation():
        evil.evaluate(
            """(target) => { const f = document.createElement("form"); f.method = "POST";
            f.action = target; f.enctype = "text/plain";
            const i = document.createElement("input");
            i.name = '{"rating": 1, "x": "'; i.value = '"}';
            f.appendChild(i); document.body.appendChild(f); f.submit(); }""",
            target,
        )
    assert "pwned" not in evil.content() or "refused" in evil.content()
    ctx.close()
    assert event_json(demo.server, demo.session).get("feedback") == before


# ---- 2. tokens and costs ------------------------------------------------------------------


def test_token_and_cost_breakdown(page: Page, demo: Demo) -> None:
    page.goto(demo.url(f"/ui/sessions/{demo.session}") + f"#event={demo.rich}")
    usage = page.locator("#detail table.usage")
    expect(usage).to_be_visible()
    cells = {
        r.locator("td").first.inner_text(): r.locator("td").nth(1).inner_text()
        for r in usage.locator("tbody tr").all()
    }
    assert cells == {"input": "200", "cached input": "1,000", "output": "300",
                     "of which reasoning": "100"}  # fmt: skip
    assert usage.locator("tfoot td").first.inner_text() == "1,500"
    assert usage.locator("tfoot").inner_text().count("$") == 1  # gpt-4o is priced
    # computed by hivelog, the cost is split by the rates it was computed at
    costs = {
        r.locator("td").first.inner_text(): r.locator("td").nth(2).inner_text()
        for r in usage.locator("tbody tr").all()
    }
    assert all(c.startswith("$") for c in costs.values()), costs
    expect(page.locator("#detail .usage + p")).to_contain_text("genai-prices")
    # a model nobody has a price for: "unpriced", never $0
    page.locator("[data-tree] .row", has_text="local model").click()
    expect(page.locator("#detail h2")).to_have_text("local model")
    expect(page.locator("#detail table.usage .unpriced")).to_have_text("unpriced")
    assert "$0" not in page.locator("#detail table.usage").inner_text()
    # the session has a priced and an unpriced call: its cost is partial
    expect(page.locator(".session-head [data-cost] .unpriced")).to_have_text("partial")
    # the session header: its calls' tokens and costs by kind; a kind the unpriced call used
    # too (input, output) costs at least what the priced call's did, marked "partial"
    head = page.locator(".usage-slot table.usage")
    expect(head).to_contain_text("cached input")
    lines = {
        r.locator("td").first.inner_text(): r.locator("td").all_inner_texts()[1:]
        for r in head.locator("tbody tr").all()
    }
    assert lines == {
        "input": ["205", costs["input"] + " partial"],
        "cached input": ["1,000", costs["cached input"]],
        "output": ["302", costs["output"] + " partial"],
        "of which reasoning": ["100", costs["of which reasoning"]],
    }, lines
    foot = head.locator("tfoot td").all_inner_texts()
    assert foot[0] == "1,507" and foot[1].startswith("$") and foot[1].endswith(" partial"), foot
    assert not re.search(r"\$0(\.0*)?(\s|$)", head.inner_text())  # no made-up $0
    # a session whose answering call's cost was sent whole by the client: its cost is known
    # (no "partial"), but not how it splits by kind ("–", as in that call's own breakdown)
    page.goto(demo.url(f"/ui/sessions/{demo.sessions[0]}"))
    head = page.locator(".usage-slot table.usage")
    expect(head).to_be_visible()
    lines = {
        r.locator("td").first.inner_text(): r.locator("td").all_inner_texts()[1:]
        for r in head.locator("tbody tr").all()
    }
    assert lines == {"input": ["120", "–"], "output": ["32", "–"]}, lines
    foot = head.locator("tfoot td").all_inner_texts()
    assert foot[0] == "152" and re.fullmatch(r"\$0\.00[0-9]*[1-9][0-9]*", foot[1]), foot
    page.goto(demo.url("/"))
    row = page.locator(f"tr[data-session='{demo.session}']")
    expect(row.locator(".unpriced")).to_have_text("partial")
    page.goto(demo.url("/ui/events", f="event_name", op="is", v="local model"))
    expect(page.locator("table.events .unpriced")).to_have_text("unpriced")


# ---- 4. markdown and messages -------------------------------------------------------------


def test_markdown_is_rendered_safely_with_a_raw_toggle(page: Page, demo: Demo) -> None:
    pixel = base64.b64decode(PIXEL.partition(",")[2])
    page.route(PHOTO, lambda route: route.fulfill(body=pixel, content_type="image/png"))
    page.goto(demo.url(f"/ui/event/{demo.rich}"))
    out = page.locator(".msg.out")
    expect(out.locator(".md h1")).to_have_text("Plan")
    expect(out.locator(".md strong")).to_have_text("bold")
    expect(out.locator(".md pre code")).to_contain_text("print('hi')")
    fonts = out.locator(".md pre code").evaluate("(c) => getComputedStyle(c).fontFamily")
    prose = out.locator(".md p").first.evaluate("(p) => getComputedStyle(p).fontFamily")
    assert "monospace" in fonts and "monospace" not in prose, (fonts, prose)
    link = out.locator(".md a", has_text="link")
    assert link.get_attribute("rel") == "noopener noreferrer nofollow"
    assert link.get_attribute("target") == "_blank"
    expect(out.locator(".md")).to_contain_text("<script>")  # shown as text, never run
    assert out.locator(".md script, .md img").count() == 0
    assert out.locator(".md a[href^='javascript']").count() == 0
    assert page.evaluate("window.__pwned === undefined")
    # the raw text, as the model wrote it
    page.get_by_role("button", name="Raw text").click()
    expect(out.locator(".raw")).to_be_visible()
    expect(out.locator(".raw")).to_contain_text("**bold**")
    expect(out.locator(".md")).to_be_hidden()
    page.get_by_role("button", name="Raw text").click()
    # the long system prompt is folded behind "Show more"
    system = page.locator(".msg.r-system")
    folded = system.locator(".fold").bounding_box()
    assert folded is not None and folded["height"] < 200
    system.get_by_role("button", name="Show more").click()
    expect(system.locator(".md")).to_contain_text("Rule 39")
    opened = system.locator(".fold").bounding_box()
    assert opened is not None and opened["height"] > 400
    # the image parts of the user's message: a data URL and an https URL are shown; an SVG
    # (which can carry script) and a javascript: URL are not, each leaving "[image]"
    images = page.locator(".msg.r-user img")
    expect(images).to_have_count(2)
    assert [i.get_attribute("src") for i in images.all()] == [PIXEL, PHOTO]
    for img in images.all():
        loaded = "(img) => img.complete && img.naturalWidth === 1"
        page.wait_for_function(loaded, arg=img.element_handle())
    expect(page.locator(".msg.r-user")).to_contain_text("[image]")
    assert page.locator(".msg.r-user").inner_text().count("[image]") == 2


# ---- 5. JSON viewer -----------------------------------------------------------------------


def test_json_sections_open_search_and_show_raw(page: Page, demo: Demo) -> None:
    page.goto(demo.url(f"/ui/event/{demo.rich}"))
    # every section shows its open/closed marker (a flex summary once hid it)
    sections = page.locator("details.section")
    names = [d.get_attribute("data-section") for d in sections.all()]
    assert {"config", "inputs", "outputs", "metadata", "user_properties"} <= set(names), names
    for d in sections.all():
        marker = d.evaluate(
            "(d) => getComputedStyle(d.querySelector('summary'), '::before').content"
        )
        assert ("▾" if d.get_attribute("open") is not None else "▸") in marker, (names, marker)
    props = page.locator("details.section[data-section='user_properties']")
    expect(props).to_have_attribute("open", "")
    expect(props.locator(".json")).to_contain_text("u-42")
    marker = page.evaluate(
        "(s) => getComputedStyle(s.querySelector('summary'), '::before').content",
        props.element_handle(),
    )
    assert "▾" in marker
    props.locator("> summary").click()  # it folds, and the marker says so
    expect(props.locator(".json")).to_be_hidden()
    folded = props.evaluate(
        "(d) => getComputedStyle(d.querySelector('summary'), '::before').content"
    )
    assert "▸" in folded, folded
    props.locator("> summary").click()
    inputs = page.locator("details.section[data-section='inputs']")
    inputs.locator("> summary").click()
    inputs.get_by_label("Find in inputs").fill("rule 3")
    expect(inputs.locator("[data-json-hits]")).to_have_text(
        "1 match"
    )  # Rule 3, Rule 30..39 in one string
    expect(inputs.locator(".j-hit").first).to_be_visible()
    inputs.get_by_role("button", name="Raw JSON").click()
    raw = inputs.locator(".raw-json")
    expect(raw).to_be_visible()
    assert json.loads(raw.inner_text())["chat_history"][0]["role"] == "system"


# ---- 6. pages -----------------------------------------------------------------------------


def test_every_url_is_a_styled_page(page: Page, demo: Demo) -> None:
    page.goto(demo.url(f"/ui/event/{demo.rich}"))
    expect(page.locator("header.top .brand")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.body).margin") == "0px"  # app.css applies
    expect(page.locator("h2")).to_have_text("draft")
    for path in (f"/ui/sessions/{uuid.uuid4()}", f"/ui/event/{uuid.uuid4()}", "/ui/nowhere"):
        r = page.goto(demo.url(path))
        assert r is not None and r.status == 404
        expect(page.locator(".not-found h1")).to_have_text("Not found")
        expect(page.locator("header.top nav")).to_be_visible()
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert icon is not None
    with httpx.Client(base_url=demo.server.url) as c:
        r = c.get(icon)
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg")


# ---- 8. dark mode -------------------------------------------------------------------------


def _luminance(rgb: str) -> float:
    r, g, b = (int(x) / 255 for x in re.findall(r"\d+", rgb)[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(page: Page, selector: str) -> float:
    fg, bg = page.evaluate(
        """(sel) => { const el = document.querySelector(sel);
        let b = el, bg = "rgba(0, 0, 0, 0)";
        const clear = "rgba(0, 0, 0, 0)";
        while (b && (bg = getComputedStyle(b).backgroundColor) === clear) b = b.parentElement;
        if (!b) bg = getComputedStyle(document.documentElement).backgroundColor;
        return [getComputedStyle(el).color, bg]; }""",
        selector,
    )
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def test_dark_mode_follows_the_system_and_the_toggle(browser: Browser, demo: Demo) -> None:
    ctx = context(browser, color_scheme="dark")
    page = ctx.new_page()
    page.goto(demo.url(f"/ui/sessions/{demo.session}") + f"#event={demo.rich}")
    expect(page.locator("#detail h2")).to_have_text("draft")
    bg = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert _luminance(bg) < 0.05, bg
    for sel in (
        "#detail h2",
        ".msg.out .md p",
        "#detail .json .j-k",
        "table.usage td",
        ".facts dt",
    ):
        assert _contrast(page, sel) >= 4.5, sel
    screenshot(page, "session-dark")
    page.goto(demo.url("/ui/dashboard", range="24h"))
    page.wait_for_selector("[data-charts][data-ready='1']")
    assert _contrast(page, "figure.chart figcaption") >= 4.5
    screenshot(page, "dashboard-dark")
    # the toggle: auto → light, remembered on the next page
    page.get_by_role("button", name=re.compile("theme")).click()
    expect(page.locator("[data-theme-name]")).to_have_text("light")
    page.goto(demo.url("/"))
    bg = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert _luminance(bg) > 0.8, bg
    assert _contrast(page, "table.sessions td.name a") >= 4.5
    page.get_by_role("button", name=re.compile("theme")).click()  # light → dark
    page.goto(demo.url("/"))
    assert (
        _luminance(page.evaluate("getComputedStyle(document.documentElement).backgroundColor"))
        < 0.05
    )
    screenshot(page, "sessions-dark")
    ctx.close()


# Every piece of text drawn on a page, against the background it is drawn on (semi-transparent
# backgrounds composed over their parents'), by WCAG 2's contrast ratio: 4.5 for text, 3 for
# large text (24 px, or 18.66 px bold). Decorative text (aria-hidden) and placeholder-sized
# controls' own chrome are not text; hidden elements are not drawn.
_LOW_CONTRAST = """() => {
    const rgba = (c) => { const m = c.match(/[\\d.]+/g).map(Number);
        return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; };
    const over = (top, under) => { const a = top[3];
        return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat([1]); };
    const lum = (c) => { const l = c.slice(0, 3).map((v) => { v /= 255;
        return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
        return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2]; };
    const background = (el) => {
        const layers = [];
        for (let e = el; e; e = e.parentElement) {
            const c = rgba(getComputedStyle(e).backgroundColor);
            if (c[3] > 0) layers.push(c);
            if (c[3] >= 1) break;
        }
        let bg = [255, 255, 255, 1];
        if (!layers.length || layers[layers.length - 1][3] < 1) {
            bg = rgba(getComputedStyle(document.documentElement).backgroundColor);
        }
        for (const c of layers.reverse()) bg = over(c, bg);
        return bg;
    };
    const bad = [];
    for (const el of document.querySelectorAll("body *")) {
        const own = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
        if (!own || el.closest("[aria-hidden=true], script, style, option, [hidden]")) continue;
        const cs = getComputedStyle(el);
        const box = el.getBoundingClientRect();
        if (cs.visibility !== "visible" || !box.width || !box.height) continue;
        const bg = background(el), fg = over(rgba(cs.color), bg);
        const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
        const ratio = (a + 0.05) / (b + 0.05);
        const size = parseFloat(cs.fontSize), bold = Number(cs.fontWeight) >= 700;
        const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
        if (ratio < need) bad.push(`${ratio.toFixed(2)} ${el.tagName}.${el.className}: ` +
                                   el.textContent.trim().slice(0, 40));
    }
    return [...new Set(bad)];
}"""

# What uPlot draws on a canvas: axis labels are text (4.5), lines and grid are graphics (3:1
# for the series against the chart's panel, WCAG 1.4.11).
_CHART_CONTRAST = """() => {
    const rgb = (c) => { const x = document.createElement("canvas").getContext("2d");
        x.fillStyle = c; x.fillRect(0, 0, 1, 1);
        return Array.from(x.getImageData(0, 0, 1, 1).data); };
    const lum = (c) => { const l = c.slice(0, 3).map((v) => { v /= 255;
        return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
        return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2]; };
    const ratio = (p, q) => { const [a, b] = [lum(rgb(p)), lum(rgb(q))].sort((x, y) => y - x);
        return (a + 0.05) / (b + 0.05); };
    const out = [];
    for (const fig of document.querySelectorAll("figure[data-chart]")) {
        const u = fig.uplot, panel = getComputedStyle(fig).backgroundColor;
        const name = fig.dataset.chart;
        for (const a of u.axes) out.push(["axis " + name, ratio(a.stroke(u), panel), 4.5]);
        for (const s of u.series.slice(1)) {
            out.push([name + " " + s.label, ratio(s.stroke(u), panel), 3]);
        }
    }
    return out.filter(([, r, need]) => r < need);
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_both_themes_are_readable_on_every_page(browser: Browser, demo: Demo, scheme: str) -> None:
    ctx = context(browser, color_scheme=scheme)
    page = ctx.new_page()
    for path, ready in (
        ("/", "table.sessions tbody tr"),
        ("/ui/events", "table.events tbody tr"),
        (f"/ui/sessions/{demo.session}#event={demo.rich}", "body[data-marked='1'] #detail .md"),
        (f"/ui/event/{demo.rich}", ".event .md pre code"),
        (f"/ui/sessions/{demo.sessions[4]}", "body[data-ready='1'] [data-tree] .row.err"),
        ("/ui/dashboard", "table.models tbody tr"),
        (f"/ui/sessions/{uuid.uuid4()}", ".not-found"),
        ("/login", "input[name=key]"),
    ):
        page.goto(
            demo.url(path.split("#")[0], range="24h")
            + path.partition("#")[1]
            + path.partition("#")[2]
        )
        page.wait_for_selector(ready)
        # open every JSON section and the raw text, so code and JSON are measured too
        page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
        assert page.evaluate(_LOW_CONTRAST) == [], (scheme, path)
        if path == "/ui/dashboard":
            assert page.evaluate(_CHART_CONTRAST) == [], scheme
    ctx.close()


# ---- 9. local time ------------------------------------------------------------------------


def test_times_in_the_browsers_zone_with_a_utc_toggle(browser: Browser, demo: Demo) -> None:
    ctx = context(browser, timezone_id="Asia/Tokyo")
    page = ctx.new_page()
    page.goto(demo.url(f"/ui/sessions/{demo.session}"))
    start = page.locator(".session-head time").first
    ms = int(start.get_attribute("data-ms") or 0)
    tokyo = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000 + 9 * 3600))
    utc = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000))
    expect(start).to_have_text(tokyo)
    expect(page.locator("[data-tz-name]")).to_have_text("Asia/Tokyo")
    page.get_by_role("button", name=re.compile("times in")).click()
    expect(start).to_have_text(utc)
    expect(page.locator("[data-tz-name]")).to_have_text("UTC")
    page.goto(demo.url("/"))  # remembered
    expect(page.locator("[data-tz-name]")).to_have_text("UTC")
    page.get_by_role("button", name=re.compile("times in")).click()
    expect(page.locator("[data-tz-name]")).to_have_text("Asia/Tokyo")

    def tokyo_text(t: Locator) -> str:
        ms = int(t.get_attribute("data-ms") or 0)
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000 + 9 * 3600))

    # every time on the list pages is Tokyo's too
    for path, table in (("/", "table.sessions"), ("/ui/events", "table.events")):
        page.goto(demo.url(path))
        times = page.locator(f"{table} tbody time[data-ms]").all()
        assert times, path
        for t in times[:5]:
            expect(t).to_have_text(tokyo_text(t))
    # a custom range, typed in local time: only the sessions inside it
    page.goto(demo.url("/"))
    sessions = event_json(demo.server, demo.sessions[2]), event_json(demo.server, demo.sessions[3])
    low = min(s["start_time"] for s in sessions) - 1000
    high = max(s["start_time"] for s in sessions) + 1000

    def local(ms: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000 + 9 * 3600))

    page.get_by_label("Time range").select_option("custom")
    page.get_by_label("From (local time)").fill(local(low))
    page.get_by_label("To (local time)").fill(local(high))
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#results .summary strong")).to_have_text("2")
    assert f"from={low // 1000 * 1000}" in page.url

    # the dashboard's charts too: the time of a bucket pointed at, in Tokyo, then in UTC
    def pointed_at(offset_hours: int) -> None:
        page.wait_for_selector("[data-charts][data-ready='1']")
        shown, ts = page.evaluate(
            """() => { const fig = document.querySelector("figure[data-chart=events]");
            const u = fig.uplot, k = u.data[0].length - 1; u.setLegend({idx: k});
            return [fig.querySelector(".u-legend .u-series .u-value").textContent, u.data[0][k]];
            }"""
        )
        assert shown == time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts + offset_hours * 3600))

    page.goto(demo.url("/ui/dashboard", range="24h"))
    pointed_at(9)
    with page.expect_navigation():  # the charts are drawn again, in the zone chosen
        page.get_by_role("button", name=re.compile("times in")).click()
    expect(page.locator("[data-tz-name]")).to_have_text("UTC")
    pointed_at(0)
    ctx.close()


# ---- 3. download --------------------------------------------------------------------------


def _import(path: Path, server: Server, project: str) -> list[dict[str, Any]]:
    """`hivelog import` of a downloaded file into `project`; what that project then holds."""
    run = subprocess.run(
        [HIVELOG, "import", str(path), "--url", server.url, "--project", project],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0 and "skipped 0, failed 0" in run.stderr, run.stderr
    with server.client() as c:
        r = c.post("/events/export", json={"project": project, "limit": 7500})
        r.raise_for_status()
        events: list[dict[str, Any]] = r.json()["events"]
        return events


def _by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["event_id"]: {k: v for k, v in e.items() if k != "project_id"} for e in events}


def test_download_what_the_page_shows(page: Page, demo: Demo, tmp_path: Path) -> None:
    page.goto(demo.url("/ui/events", f="event_type", op="is", v="model"))
    total = int(page.locator("#results .summary strong").inner_text().replace(",", ""))
    with page.expect_download() as got:
        page.locator("[data-download=jsonl]").click()
    lines = got.value.path().read_text().splitlines()
    assert len(lines) == total == 2 + 6 * 2
    assert all(json.loads(line)["event_type"] == "model" for line in lines)
    with page.expect_download() as got:
        page.locator("[data-download=csv]").click()
    rows = list(csv.DictReader(io.StringIO(got.value.path().read_text())))
    assert len(rows) == total and json.loads(rows[0]["config"])["model"]
    # `hivelog import` reads the CSV: the same model calls, whole, in another project
    got.value.save_as(tmp_path / "models.csv")
    copied = _by_id(_import(tmp_path / "models.csv", demo.server, f"{demo.project}-csv"))
    shown = _by_id([json.loads(line) for line in lines])
    assert {k: copied[k] for k in shown} == shown
    # the sessions page: every event of the listed sessions, which `hivelog import` reads
    page.goto(demo.url("/", q="包裹"))
    expect(page.locator("#results .summary strong")).to_have_text("1")  # session 3
    with page.expect_download() as got:
        page.locator("[data-download=jsonl]").click()
    events = [json.loads(x) for x in got.value.path().read_text().splitlines()]
    assert len(events) == 5 and {e["session_id"] for e in events} == {demo.sessions[3]}
    assert sum(e["event_type"] == "session" for e in events) == 1
    # and the JSONL: the session and its events, as the download had them
    got.value.save_as(tmp_path / "session.jsonl")
    copied = _by_id(_import(tmp_path / "session.jsonl", demo.server, f"{demo.project}-jsonl"))
    assert copied == _by_id(events)


# ---- 10. narrow screens -------------------------------------------------------------------


_BARS_LAID_OUT = """() => {
    const bars = [...document.querySelectorAll('[data-tree] .row .bar')];
    return bars.length > 0 && bars.every(b => b.getClientRects().length > 0);
}"""
_BAR_BOXES = """() => [...document.querySelectorAll('[data-tree] .row .bar')].map(b => {
    const r = b.getBoundingClientRect();
    return {x: r.x, y: r.y, width: r.width, height: r.height};
})"""


def test_390_px_wide_nothing_scrolls_sideways(browser: Browser, demo: Demo) -> None:
    ctx = context(browser, viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    for path, ready in (
        ("/", "table.sessions"),
        ("/ui/events", "table.events"),
        (f"/ui/sessions/{demo.session}", "#detail h2"),
        (f"/ui/event/{demo.rich}", ".event h2"),
        ("/ui/dashboard", "table.models tbody tr"),
        ("/ui/nowhere", ".not-found"),
        (f"/ui/sessions/{uuid.uuid4()}", ".not-found"),
        (f"/ui/event/{uuid.uuid4()}", ".not-found"),
        ("/login", "input[name=key]"),
    ):
        page.goto(demo.url(path, range="24h"))
        page.wait_for_selector(ready)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide"
        assert page.evaluate("document.body.scrollWidth") <= 390, path
    # the session page stacks the tree with its timeline above the detail panel, each as
    # wide as the screen allows
    page.goto(demo.url(f"/ui/sessions/{demo.session}"))
    page.wait_for_selector("body[data-ready='1'] #detail .event")
    tree = page.locator(".trace-left").bounding_box()
    axis = page.locator("[data-axis]").bounding_box()
    # every bar laid out, then all measured in one step in the page: measured one by one, a
    # bar redrawn in between had no box
    page.wait_for_function(_BARS_LAID_OUT)
    bars = page.evaluate(_BAR_BOXES)
    detail = page.locator("#detail").bounding_box()
    assert tree and axis and detail and bars
    assert detail["y"] >= tree["y"] + tree["height"] - 1
    assert tree["width"] >= 340 and detail["width"] >= 340, (tree, detail)
    assert axis["width"] >= 100 and axis["x"] + axis["width"] <= 390, axis
    assert all(b and b["x"] >= axis["x"] - 1 and b["x"] + b["width"] <= 391 for b in bars), bars
    screenshot(page, "session-390")
    # the project picker and the filters stay usable
    page.goto(demo.url("/"))
    expect(page.get_by_label("Project")).to_be_visible()
    page.get_by_role("button", name="+ Filter").click()
    row = page.locator(".frow").last
    row.locator("input[name=f]").fill("source")
    row.locator("input[name=v]").fill("production")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#results .summary strong")).to_have_text("3")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # the custom range's two fields fit too
    page.get_by_label("Time range").select_option("custom")
    for label in ("From (local time)", "To (local time)"):
        box = page.get_by_label(label).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, (label, box)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "sessions-390")
    ctx.close()


# ---- 1. feedback from a browser signed in with a key ----------------------------------------


def test_a_signed_in_browser_may_annotate_and_write_nothing_else(
    browser: Browser, signed_in: tuple[Server, str, str]
) -> None:
    srv, key, event_id = signed_in
    ctx = context(browser)
    page = ctx.new_page()
    page.goto(f"{srv.url}/ui/event/{event_id}")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".event h2")).to_have_text("lookup")
    page.get_by_label("Comment").fill("wrong tool")
    page.get_by_role("button", name="Save feedback").click()
    expect(page.locator("[data-feedback-status]")).to_have_text("Saved")
    page.locator(".star", has_text="1★").click()
    expect(page.locator(".star[aria-pressed='true']")).to_have_text("1★")
    with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key}"}) as c:
        stored = c.get(f"/v1/events/{event_id}").json()
    assert stored["feedback"] == {"comment": "wrong tool", "rating": 1}
    # the same cookie cannot write through the API, even from the server's own page
    status = page.evaluate(
        """async (id) => (await fetch("/events", {method: "PUT", credentials: "same-origin",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({event_id: id, feedback: {rating: 5}})})).status""",
        event_id,
    )
    assert status == 401
    # nor annotate without the page's token (a token of another cookie is not this one's)
    status = page.evaluate(
        """async (id) => (await fetch("/ui/feedback/" + id, {method: "POST",
            headers: {"Content-Type": "application/json", "X-Hivelog-CSRF": "0".repeat(64)},
            body: JSON.stringify({rating: 5})})).status""",
        event_id,
    )
    assert status == 403
    with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key}"}) as c:
        assert c.get(f"/v1/events/{event_id}").json()["feedback"]["rating"] == 1
    ctx.close()


# ---- 11. dashboard ------------------------------------------------------------------------


def test_dashboard_totals_legends_and_gaps(page: Page, demo: Demo) -> None:
    page.goto(demo.url("/ui/dashboard", range="24h"))
    page.wait_for_selector("[data-charts][data-ready='1']")
    expect(page.locator("[data-total=sessions]")).to_have_text("7")
    expect(page.locator("[data-total=events]")).to_have_text("26")
    # one model call has no known price: the total is what the others cost, marked partial
    cost = page.locator("[data-total=cost]")
    expect(cost.locator(".unpriced")).to_have_text("partial")
    assert cost.inner_text().startswith("$") and cost.inner_text().endswith(" partial")
    assert page.locator("[data-total=errors]").inner_text().endswith("%")
    # legends show the latest bucket's values before any hover
    legend = page.locator("figure[data-chart=sessions] .u-legend").inner_text()
    assert "--" not in legend, legend
    # model calls by model: calls, tokens, cost (unknown for an unpriced model, not $0)
    rows = {
        r.locator("td").first.inner_text(): r.locator("td").all_inner_texts()[1:]
        for r in page.locator("table.models tbody tr").all()
    }
    assert rows["gpt-4o"][0] == "5" and rows["claude-3-5-sonnet"][0] == "4"
    assert rows["my-own-finetune-xyz"][:3] == ["1", "7", "–"]
    assert rows["my-own-finetune-xyz"][3] == "400 ms"  # its one call: the exact p50
    expect(page.locator("figure[data-chart=model-latency] .uplot")).to_be_visible()
    # only that model's calls: the cost is unknown, not $0
    page.goto(demo.url("/ui/dashboard", range="24h", f="config.model", op="is",
                       v="my-own-finetune-xyz"))  # fmt: skip
    page.wait_for_selector("[data-charts][data-ready='1']")
    expect(page.locator("[data-total=events]")).to_have_text("1")
    expect(page.locator("[data-total=cost]")).to_have_text("unpriced")


# ---- 7. previews --------------------------------------------------------------------------


def test_sessions_list_previews_input_and_output(page: Page, demo: Demo) -> None:
    page.goto(demo.url("/"))
    row = page.locator(f"tr[data-session='{demo.session}']")
    first_input, last_output = row.locator("td.preview").all()
    expect(last_output).to_have_text("It is a pixel.")
    expect(first_input).to_have_attribute("title", " ".join(QUESTION.split()))
    cut = page.evaluate(
        """(td) => [td.scrollWidth > td.clientWidth, getComputedStyle(td).textOverflow]""",
        first_input.element_handle(),
    )
    assert cut == [True, "ellipsis"], cut  # drawn with "…", the whole text on hover


def test_a_download_larger_than_a_chunk_has_every_event_once(server: Server) -> None:
    """Chunks follow each other by start time; 1,200 events sharing one start time (more than
    a chunk) and 1,300 more are each downloaded exactly once, in both orders."""
    project = f"dl-{uuid.uuid4().hex[:8]}"
    t0 = int(time.time() * 1000) - 60_000
    ids: set[str] = set()
    # a generous read timeout: a busy machine (PostgreSQL shared with load tests) can stretch
    # a 2,500-event download from ~1 s to well past httpx's usual 30 s
    with httpx.Client(base_url=server.url, timeout=180) as c:
        for part in range(5):
            events = []
            for k in range(500):
                n = part * 500 + k
                event_id = str(uuid.uuid4())
                ids.add(event_id)
                start = t0 if n < 1200 else t0 + n
                events.append({"event_id": event_id, "event_type": "tool", "event_name": f"e{n}",
                               "start_time": start, "duration": 1})  # fmt: skip
            c.post("/events/batch", json={"project": project, "events": events}).raise_for_status()
        for direction in ("desc", "asc"):
            r = c.get(
                "/ui/export/events.jsonl",
                params={"project": project, "f": "event_type", "op": "is", "v": "tool",
                        "dir": direction},
            )  # fmt: skip
            r.raise_for_status()
            # streamed: sent as it is read (chunked), not built whole first to a known length
            assert r.headers.get("transfer-encoding") == "chunked", r.headers
            assert "content-length" not in r.headers
            got = [json.loads(line) for line in r.text.splitlines()]
            assert len(got) == len(ids) and {e["event_id"] for e in got} == ids
            starts = [e["start_time"] for e in got]
            assert starts == sorted(starts, reverse=direction == "desc")
