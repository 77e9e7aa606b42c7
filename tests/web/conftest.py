"""Fixtures for the web app's browser tests: one headless Chromium for the session, and a page in
a fresh browser context for each test (tests/browser.py has the helpers).

Without Playwright or Debian's Chromium the browser tests skip, except in CI (``CI=true``), where
they fail so that a missing browser cannot hide.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from browser import chromium_missing, launch_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Error, Page

#: How long a page action or expectation waits before failing (Playwright's default is 30 s).
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Headless Debian Chromium driven by Playwright, shared by one module's tests.

    Not the session's: Playwright's sync API keeps an event loop running in the test thread
    while it is started, and Herald's synchronous run functions (rightly) refuse to start
    inside a running loop; stopping it after each browser module keeps the other tests free
    of it, in whatever order they run."""
    why = chromium_missing()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser tests cannot run in CI: {why}", pytrace=False)
        pytest.skip(why)
    with launch_chromium() as browser:
        yield browser


@pytest.fixture
def browser_errors() -> list[str]:
    """What went wrong in the ``page`` fixture's page: uncaught script errors and requests the
    Content-Security-Policy refused. The test fails at teardown unless the list is empty; a test
    that causes one on purpose reads it and clears it."""
    return []


@pytest.fixture
def page(chromium: Browser, browser_errors: list[str]) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies or storage from another test)."""
    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            browser_errors.append(f"CSP: {message.text}")

    def on_page_error(error: Error) -> None:
        browser_errors.append(f"uncaught: {error.message}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    try:
        yield page
    finally:
        context.close()
    assert browser_errors == [], "the page had errors:\n" + "\n".join(browser_errors)
