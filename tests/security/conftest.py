"""The Chromium fixtures of the UI tests, for the hostile-input suite's browser checks."""

from tests.ui.conftest import browser, page

__all__ = ["browser", "page"]
