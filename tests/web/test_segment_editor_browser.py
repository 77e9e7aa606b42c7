"""The seed's segment part in a real browser: build a segment with drop-downs and a picklist,
Refresh to see the insights and the count beside every condition, activate it; no serious or
critical accessibility violation on the editor; a screenshot of it for the docs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from browser import axe_violations, choose, docs_screenshot, serve_app, settled
from playwright.sync_api import Page, expect
from starlette.applications import Starlette
from web_app import PASSWORD, TOKEN, make_app, make_workspace

from herald.web._auth import TOKEN_ENV

TIERS = ["Gold", "Silver", "Bronze", "Platinum"]
STATES = ["CA", "WA", "OR", "NY", "TX"]
CUSTOMERS = 400


def add_customers(database: Path) -> None:
    """Enough customers for figures worth a screenshot: tiers, states and revenues vary."""
    con = duckdb.connect(str(database))
    try:
        for i in range(2, CUSTOMERS + 2):
            key = f"c{i}"
            con.execute(
                "INSERT INTO Customer_360 VALUES (?, ?, ?, '98101', ?, DATE '1985-05-05', "
                "TIMESTAMP '2024-01-01 10:00:00')",
                [key, f"p{i}@example.com", STATES[i % 5], TIERS[(i * 7) % 11 % 4]],
            )
            con.execute(
                "INSERT INTO Customer_Attributes VALUES (?, ?, ?, ?, true, false, false)",
                [key, i % 3 != 0, i % 3 != 0, i % 4 == 0],
            )
            con.execute(
                "INSERT INTO Transaction_Attributes_Extended VALUES (?, ?, ?, ?, ?)",
                [key, (i * 37) % 900, i % 9, (i * 13) % 300, i % 4],
            )
    finally:
        con.close()


@pytest.fixture(scope="module")
def rich_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("editor")
    root = make_workspace(folder)
    add_customers(folder / "customers.duckdb")
    return root


@pytest.fixture
def app(rich_root: Path, monkeypatch: pytest.MonkeyPatch) -> Starlette:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return make_app(rich_root)


@pytest.fixture
def base_url(app: Starlette) -> Iterator[str]:
    with serve_app(app) as url:
        yield url


def sign_in_as_editor(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/login?next=/segments/new")
    page.get_by_label("Name").fill("ed")
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base_url}/segments/new")


def test_build_refresh_and_activate_a_segment(
    page: Page, base_url: str, app: Starlette, tmp_path: Path
) -> None:
    sign_in_as_editor(page, base_url)
    page.locator("#f-name").fill("Gold or Platinum spenders")

    # the first condition: the base table's loyalty tier, values picked from the picklist
    choose(page, "#f-r-0-column", "loyalty_tier")
    expect(page.locator("#f-r-0-op")).to_have_value("in_list")
    page.get_by_role("button", name="Pick values…").click()
    picks = page.locator("#f-r-0-picklist")
    expect(picks.get_by_text("Gold")).to_be_visible()
    expect(picks.locator("li").first).to_contain_text("Bronze")  # most frequent first
    expect(picks.locator("li").last).to_contain_text("Platinum")
    picks.get_by_label("Gold").check()
    picks.get_by_label("Search loyalty_tier").fill("plat")  # searched on the server
    expect(picks.locator("li")).to_have_count(2)  # Gold, still ticked, and Platinum
    expect(picks.get_by_label("Gold")).to_be_checked()
    picks.get_by_label("Platinum").check()

    # a second condition: lifetime revenue greater than 100
    # by keyboard: the button keeps the focus after the editor is re-rendered
    page.locator("#f-r-add-condition").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#f-r-1-table")).to_be_visible()
    expect(page.locator("#f-r-add-condition")).to_be_focused()
    settled(page)
    page.locator("#f-r-1-table").focus()
    page.keyboard.type("Tr")  # a closed drop-down picks the option typed, and re-renders
    expect(page.locator("#f-r-1-column")).to_contain_text("lifetime_order_revenue")
    expect(page.locator("#f-r-1-table")).to_be_focused()
    choose(page, "#f-r-1-column", "lifetime_order_revenue")
    expect(page.locator("#f-r-1-op")).to_have_value("greater_than")
    page.locator("#f-r-1-value").fill("100")
    settled(page)

    page.get_by_role("button", name="Refresh").click()
    figures = page.locator(".figures")
    expect(figures).to_contain_text("Customers")
    counts = page.locator(".count")
    expect(counts).to_have_count(2)
    first, second = (int(counts.nth(i).inner_text().split()[-1].replace(",", "")) for i in range(2))
    assert CUSTOMERS > first > second > 0  # the waterfall narrows
    expect(page.locator("#f-r-0-picklist").locator("..")).to_contain_text("Platinum")

    assert axe_violations(page) == []
    docs_screenshot(page, "segment-editor.png", tmp_path)
    # a full-page screenshot leaves empty style attributes behind, which htmx's next swap
    # carries over to the new elements, and the CSP (rightly) refuses: not the app's doing
    page.evaluate("document.querySelectorAll('[style]').forEach(e => e.removeAttribute('style'))")

    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("status")).to_contain_text("Activated v1.")
    expect(
        page.get_by_role("heading", name="Versions of Gold or Platinum spenders")
    ).to_be_visible()
    assert axe_violations(page) == []
    page.goto(f"{base_url}/segments")
    row = page.get_by_role("row", name="Gold or Platinum spenders")
    expect(row).to_contain_text("active")

    # two recorded refreshes make a trend, drawn by editor.js with uPlot when the segment opens
    for _ in range(2):
        app.state.workspace.segments.insights("Gold or Platinum spenders")
    row.get_by_role("button", name="Gold or Platinum spenders", exact=True).click()
    expect(page.locator("#f-name")).to_have_value("Gold or Platinum spenders")
    expect(page.locator(".trend canvas")).to_be_visible()
