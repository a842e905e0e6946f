"""A real browser for the UI tests: Playwright driving Debian's Chromium (never a downloaded
one). Screenshots of every page go to tests/ui/screenshots/ (git-ignored)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import Server, backend_fixture
from tests.security.keyed import create_key, keyed_client

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"

# The browser suite runs on SQLite and PostgreSQL. ClickHouse answers the same reads (the API
# and storage suites run on it, and tests/storage/test_same_answers.py compares the three),
# but its per-query planning makes several pages miss this suite's browser time limits on a
# loaded 2-core machine (docs/scaling.md).
backend = backend_fixture(("sqlite", "postgres"))


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `apt-get install chromium` (`make test` does it)",
            pytrace=False,
        )
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@contextlib.contextmanager
def checked_page(browser: Browser, **options: Any) -> Iterator[Page]:
    """A page in a context of its own (1440×900, 15 s timeouts, plus `options`) that fails
    the test if any JavaScript error happened on it."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, **options)
    context.set_default_timeout(15_000)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    yield p
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    with checked_page(browser) as p:
        yield p


@pytest.fixture()
def signed_in(fresh_database: str) -> Iterator[tuple[Server, str, str]]:
    """A keyed server, one key, one event of the key's project: (server, key, event id)."""
    key = create_key(fresh_database, "signed")
    srv = Server(fresh_database)
    srv.start()
    event_id = str(uuid.uuid4())
    with keyed_client(srv, key) as c:
        c.post(
            "/events",
            json={"event": {"event_id": event_id, "event_type": "tool", "event_name": "lookup"}},
        ).raise_for_status()
    yield srv, key, event_id
    srv.stop()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
