"""The web app in a real browser (Debian's Chromium through Playwright): sign in with the
token by keyboard, reach every section from the navigation, with the app's own CSP (the page
fixture fails on any script error or CSP refusal) and no serious or critical accessibility
violation (axe-core)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import axe_violations, serve_app, sign_in_by_keyboard
from playwright.sync_api import Page, expect
from web_app import TOKEN, make_app, web_root

from herald.web._auth import TOKEN_ENV

__all__ = ["web_root"]  # fixtures

SECTIONS = ["Segments", "Campaigns", "Runs", "Destinations"]


@pytest.fixture
def base_url(web_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    app = make_app(web_root)
    with serve_app(app) as url:
        yield url


def test_sign_in_and_every_section_in_the_browser(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/login")
    assert axe_violations(page) == []
    page.goto(f"{base_url}/segments")
    expect(page).to_have_url(f"{base_url}/login?next=/segments")
    sign_in_by_keyboard(page, f"{base_url}/segments", TOKEN)

    for section in SECTIONS:
        page.get_by_role("link", name=section, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(section)
        assert axe_violations(page) == [], section
