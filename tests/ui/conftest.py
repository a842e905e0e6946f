"""A real browser for the UI tests: Playwright driving Debian's Chromium (never a downloaded
one). Screenshots of every page go to tests/ui/screenshots/ (git-ignored)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import backend_fixture

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


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
