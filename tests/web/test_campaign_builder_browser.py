"""The Campaign builder in a real browser (Debian's Chromium through Playwright), as the seed's
flow goes: an exclusion, two sub-audiences, groups with a control group, the live total flagged
while it is not 100, edited attributes, preview, estimate, a test run with its sample downloaded,
and Schedule pressed (as soon as possible); no serious or critical accessibility violation, and
a screenshot of the builder for the docs. The Klaviyo destination is a local sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from browser import axe_violations, docs_screenshot, serve_app, sign_in_by_keyboard
from playwright.sync_api import Page, expect
from web_app import TOKEN, make_app, make_workspace

from herald.core.segments.parse import parse_segment
from herald.sandbox import DEFAULT_API_KEY, SandboxServer
from herald.web._auth import TOKEN_ENV
from herald.workspace import Workspace

CA = {"attribute": "Customer_360.state", "op": "is exactly", "value": "CA"}
GOLD = {"attribute": "Customer_360.loyalty_tier", "op": "is exactly", "value": "Gold"}


@pytest.fixture
def base_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv("KLAVIYO_API_KEY", DEFAULT_API_KEY)
    with SandboxServer() as sandbox:
        root = make_workspace(tmp_path)
        add_customers(tmp_path / "customers.duckdb")
        with (root / "herald.toml").open("a", encoding="utf-8") as config:
            config.write(
                f'\n[destinations.klaviyo]\ntype = "klaviyo_api"\n'
                f'api_key_env = "KLAVIYO_API_KEY"\nbase_url = "{sandbox.url}"\n'
            )
        with Workspace.open(root) as ws:
            for name, where in [("Californians", CA), ("Gold", GOLD)]:
                ws.segments.apply(parse_segment({"name": name, "status": "active", "where": where}))
                ws.segments.insights(name, "active")
        with serve_app(make_app(root)) as url:
            yield url


def add_customers(database: Path) -> None:
    """Six more Californians (two of them Gold) and everyone's name and email to send."""
    con = duckdb.connect(str(database))
    try:
        for n in range(2, 8):
            tier = "Gold" if n % 3 == 0 else "Silver"
            con.execute(
                "INSERT INTO Customer_360 VALUES (?, ?, 'CA', '98101', ?, DATE '1990-01-01', "
                "TIMESTAMP '2024-01-01 10:00:00')",
                [f"c{n}", f"p{n}@example.com", tier],
            )
        con.execute(
            "INSERT INTO Merged_Customers SELECT amperity_id, 'Ann', 'Lee', email FROM Customer_360"
        )
    finally:
        con.close()


def field(page: Page, name: str, value: str | None = None) -> str:
    """A CSS selector for the builder's input ``name`` (names hold dots, ids would need escapes)."""
    return f'[name="{name}"]' + (f'[value="{value}"]' if value else "")


def build_audience(page: Page) -> None:
    page.get_by_label("Name", exact=True).fill("Spring Sale")
    page.get_by_label("Include segments").select_option(["Californians"])
    page.get_by_label("Exclude segments").select_option(["Gold"])
    page.get_by_role("button", name="Add a sub-audience").click()
    page.get_by_role("button", name="Add a sub-audience").click()
    page.locator(field(page, "s0.name")).fill("Californians first")
    page.locator(field(page, "s0.segment")).select_option("Californians")
    page.locator(field(page, "s0.g0.dest", "klaviyo")).check()
    page.locator(field(page, "s1.name")).fill("Gold by criteria")
    page.locator(field(page, "s1.by")).select_option("criteria")
    pick_criteria(page)
    page.locator(field(page, "s1.g0.dest", "files")).check()


def pick_criteria(page: Page) -> None:
    """Gold customers, with the condition editor's drop-downs (by keyboard) and its picklist;
    each change redraws the builder, keeping the focus and the other fields."""
    column = page.locator(field(page, "s1.r.0.column"))
    expect(column).to_be_visible()  # the criteria's condition editor, drawn by htmx
    expect(page.locator(field(page, "s1.r.0.table"))).to_have_value("Customer_360")
    column.focus()
    # one key: the redraw may land between keys, and the new drop-down starts a new search
    page.keyboard.press("l")  # loyalty_tier, the only attribute starting with l
    operator = page.locator(field(page, "s1.r.0.op"))
    expect(operator).to_have_value("in_list")
    expect(page.locator(field(page, "s1.r.0.column"))).to_be_focused()
    expect(page.locator(field(page, "s1.name"))).to_have_value("Gold by criteria")
    page.locator('[data-path="s1.r.0"]').get_by_role("button", name="Pick values…").click()
    page.locator(field(page, "s1.r.0.pick", "Gold")).check()


def split_remaining(page: Page) -> None:
    page.locator(field(page, "r.g0.name")).fill("Offer")
    page.locator(field(page, "r.g0.dest", "klaviyo")).check()
    page.get_by_role("button", name="Add a group").last.click()
    total = page.locator("#r-total")
    page.locator(field(page, "r.g0.percent")).fill("80")
    expect(total).to_have_text("Total: 80%, must be 100%")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("total 80%: make them total 100%")
    page.locator(field(page, "r.g1.name")).fill("Holdout")
    page.locator(field(page, "r.g1.percent")).fill("20")
    expect(total).to_have_text("Total: 100%")
    page.locator(field(page, "r.g1.control")).check()


def edit_attributes(page: Page) -> None:
    page.locator(field(page, "r.g0.klaviyo.custom")).locator("xpath=..").locator("summary").click()
    page.locator(field(page, "r.g0.klaviyo.custom")).check()
    attributes = page.locator(field(page, "r.g0.klaviyo.attrs"))
    expect(attributes).to_contain_text("email")  # the destination's defaults, pre-filled
    attributes.fill(attributes.input_value() + "\ngiven_name -> first_name")


def test_build_preview_test_run_and_schedule_a_campaign(
    page: Page, base_url: str, tmp_path: Path
) -> None:
    sign_in_by_keyboard(page, f"{base_url}/campaigns/builder", TOKEN)
    expect(page.get_by_label("Include segments")).to_contain_text("Californians (7 customers)")
    build_audience(page)
    split_remaining(page)
    edit_attributes(page)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved: version 1")
    expect(page.get_by_role("heading", level=1)).to_contain_text("(draft)")
    expect(page.locator(field(page, "r.g0.klaviyo.attrs"))).to_contain_text(
        "given_name -> first_name"
    )

    page.get_by_role("button", name="View as YAML").click()
    expect(page.locator("pre.yaml")).to_contain_text("exclude:")
    expect(page.locator("pre.yaml")).to_contain_text("attribute: Customer_360.loyalty_tier")
    expect(page.locator(field(page, "s1.r.0.values", "Gold"))).to_be_checked()
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("table").first).to_contain_text("Holdout (control)")
    loads = page.get_by_role("table", name="Time to send if every record were new")
    expect(loads).to_contain_text("klaviyo")  # the API's time, the SFTP time beside it
    page.get_by_role("button", name="Estimate").click()
    expect(page.get_by_text("By API: about")).to_contain_text("SFTP")
    page.get_by_role("button", name="Test run").click()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download").first.click()
    sample = Path(info.value.path()).read_text(encoding="utf-8")
    assert "@example.com" in sample

    assert axe_violations(page) == []
    docs_screenshot(page, "campaign-builder.png", tmp_path)

    page.get_by_role("button", name="Schedule", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Scheduled; next runs")
    expect(page.get_by_role("heading", level=1)).to_contain_text("(scheduled)")
    expect(page.get_by_role("button", name="Unschedule")).to_be_visible()
