"""A campaign's results page in a real browser, by keyboard alone: from the campaigns list to the
results of two runs on the demo database, a narrower window and an as-of date chosen in the
form, the interval bars and the daily conversion charts drawn (uPlot), no serious or critical
accessibility violation; a screenshot of it for the docs."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import axe_violations, docs_screenshot, serve_app, sign_in_by_keyboard
from playwright.sync_api import Page, expect
from results_workspace import NAME, results_workspace
from web_app import TOKEN, make_app

from herald.web._auth import TOKEN_ENV


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> tuple[Path, list[str]]:
    return results_workspace(
        tmp_path_factory.mktemp("results-browser"), demo_db, ["2026-05-15", "2026-05-29"]
    )


def test_results_by_keyboard_with_bars_and_charts(
    page: Page,
    two_runs: tuple[Path, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, runs = two_runs
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    page.set_viewport_size({"width": 1280, "height": 900})
    with serve_app(make_app(root)) as base_url:
        sign_in_by_keyboard(page, f"{base_url}/campaigns", TOKEN)
        page.get_by_role("link", name=f"results of {NAME}").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name=f"Results of {NAME}")).to_be_visible()
        expect(page.get_by_role("heading", name="Pooled over 2 runs", exact=False)).to_be_visible()

        page.get_by_label("Window").focus()
        page.keyboard.press("Control+A")
        page.keyboard.type("3w")
        page.get_by_label("As of").fill("2026-06-30")
        page.get_by_label("Window").focus()
        page.keyboard.press("Enter")  # submits the GET form
        expect(page).to_have_url(
            f"{base_url}/campaigns/results?campaign=Results+Offer&run=&window=3w&as_of=2026-06-30"
        )
        expect(page.get_by_text("21 days from each run's launch date")).to_be_visible()

        pooled = page.locator("#s-pooled")
        bars = pooled.get_by_role("img", name="Conversion lift", exact=False)
        expect(bars).to_have_count(2)  # Gold against Holdout, Newsletter against Quiet
        charts = pooled.locator(".daily")
        expect(charts).to_have_count(2)
        for i in range(2):
            expect(charts.nth(i).locator("canvas")).to_be_visible()  # uPlot drew it
        legend = charts.first.locator(".u-legend")
        expect(legend).to_contain_text("Gold")
        expect(legend).to_contain_text("Holdout (control)")
        for run in runs:
            expect(page.get_by_role("heading", name=f"Run {run}")).to_be_visible()

        # the figures by day, opened by keyboard
        summary = pooled.locator("summary").first
        summary.focus()
        page.keyboard.press("Enter")
        expect(pooled.locator("details").first.get_by_role("row")).to_have_count(22)

        assert axe_violations(page) == []

        # one run alone: its section only, the page for the docs
        page.get_by_label("Runs", exact=True).select_option(runs[0])
        page.get_by_label("Window").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name=f"Run {runs[0]}")).to_be_visible()
        expect(page.locator("section")).to_have_count(1)
        expect(page.locator(".daily canvas")).to_have_count(2)
        assert axe_violations(page) == []
        docs_screenshot(page, "campaign-results.png", tmp_path)
