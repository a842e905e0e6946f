"""The screenshots of the README and docs/ui.md, light and dark, taken from a project seeded as
a support bot would fill it over a day (sessions every half hour, feedback on some, a failed
tool call in every fifth). They land in tests/ui/screenshots/ui-*.png (git-ignored); refresh
the documentation's with

    .venv/bin/pytest tests/ui/test_screenshots.py -p no:xdist -k sqlite
    cp tests/ui/screenshots/ui-*.png docs/

Each page is checked as it is taken (rows drawn, charts ready), so a screenshot never shows
a page half built. The sessions hold Chinese and Japanese text: without a CJK font
(`apt-get install fonts-wqy-microhei`) Chromium draws it as boxes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import Server
from tests.ui.conftest import screenshot
from tests.ui.seed import post_session

SESSIONS = 40
HALF_HOUR = 30 * 60_000


class Bot:
    def __init__(self, server: Server, project: str) -> None:
        self.server, self.project = server, project
        self.ids: list[str] = []

    def url(self, path: str, **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"project": self.project, **params}.items())
        return f"{self.server.url}{path}?{query}"


@pytest.fixture(scope="module")
def bot(server: Server) -> Iterator[Bot]:
    b = Bot(server, f"support-bot-{uuid.uuid4().hex[:4]}")
    now = int(time.time() * 1000)
    with server.client() as c:
        b.ids = [
            post_session(c, b.project, i, now - (SESSIONS - i) * HALF_HOUR + 60_000)
            for i in range(SESSIONS)
        ]
        for k, sid in enumerate(b.ids[-12:]):
            if k % 3 == 0:
                c.put(
                    "/events",
                    json={"event_id": sid, "feedback": {"rating": 5 - k % 4},
                          "metrics": {"resolved": k % 2 == 0}},
                ).raise_for_status()  # fmt: skip
    yield b


def _page(browser: Browser, scheme: str) -> Page:
    ctx = browser.new_context(
        viewport={"width": 1440, "height": 900}, color_scheme=scheme,  # type: ignore[arg-type]
        timezone_id="Europe/Paris",
    )  # fmt: skip
    ctx.set_default_timeout(20_000)
    return ctx.new_page()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_documentation_screenshots(browser: Browser, bot: Bot, scheme: str) -> None:
    suffix = "" if scheme == "light" else "-dark"
    page = _page(browser, scheme)
    page.goto(bot.url("/"))
    expect(page.locator("table.sessions tbody tr")).to_have_count(SESSIONS)
    expect(page.locator("table.sessions td.preview").first).not_to_be_empty()
    screenshot(page, f"ui-sessions{suffix}")

    page.goto(bot.url(f"/ui/sessions/{bot.ids[-2]}"))
    page.wait_for_selector("body[data-ready='1'] #detail .event")
    page.locator("[data-tree] .row").nth(4).click()  # the answering model call: its chat
    expect(page.locator("#detail .msg.out")).to_be_visible()
    expect(page.locator("#detail h2")).to_have_text("answer")
    screenshot(page, f"ui-session{suffix}")

    page.goto(bot.url("/ui/dashboard", range="24h"))
    page.wait_for_selector("[data-charts][data-ready='1']")
    expect(page.locator("figure.chart .uplot")).to_have_count(7)
    screenshot(page, f"ui-dashboard{suffix}")
    page.context.close()
