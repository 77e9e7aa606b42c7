"""A campaign's results page (test client) on the demo database, two runs with a control group in
each sub-audience: the page shows the figures of ``campaign_results``, a bar per lift, a chart
per sub-audience; its JSON twin; the window and as-of form; one line for bad input; the links
to it."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from results_workspace import AS_OF, NAME, results_workspace
from starlette.testclient import TestClient
from web_app import PASSWORD, TOKEN, make_app

from herald.runs.results import campaign_results, daily_conversion
from herald.web._auth import TOKEN_ENV
from herald.workspace import Workspace

URL = "/campaigns/results"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> tuple[Path, list[str]]:
    return results_workspace(
        tmp_path_factory.mktemp("results-web"), demo_db, ["2026-05-15", "2026-05-29"]
    )


@pytest.fixture
def viewer(
    two_runs: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """A test client signed in as vera, a viewer: the page needs no editor."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    app = make_app(two_runs[0])
    with TestClient(app, base_url="http://127.0.0.1") as client:
        client.post(
            "/login",
            data={
                "name": "vera",
                "password": PASSWORD,
                "csrf_token": _csrf(client.get("/login").text),
            },
        )
        yield client


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_the_page_shows_every_section_with_figures_bars_and_charts(
    viewer: TestClient, two_runs: tuple[Path, list[str]]
) -> None:
    root, runs = two_runs
    page = viewer.get(URL, params={"campaign": NAME, "as_of": "2026-06-30"})
    assert page.status_code == 200, page.text
    with Workspace.open(root) as ws:
        want = campaign_results(ws, NAME, as_of=AS_OF)
    text = _text(page.text)
    assert f"Results of {NAME}" in text
    assert "Pooled over 2 runs" in text
    for run in runs:
        assert f"Run {run}" in text
    for section in want.sections:
        for g in section.groups:
            assert f"{g.sums.recipients:,}" in text
            assert f"{g.revenue_total:,.2f}" in text  # exact, to the cent
    gold = next(g for g in want.sections[0].groups if g.group == "Gold")
    assert gold.lift is not None
    assert gold.lift.conversion.value is not None
    assert f"{gold.lift.conversion.value * 100:+,.2f} pp" in text
    # three sections × two groups with a control × three measures: a bar each
    assert page.text.count('<svg class="bar') == 3 * 2 * 3
    assert 'aria-label="Conversion lift' in page.text
    assert page.text.count("data-daily=") == 3 * 2  # a chart per sub-audience and section
    assert "Cumulative conversion by day since launch: Big Spenders" in text
    assert "<script>" not in page.text
    assert "style=" not in page.text


def test_the_json_twin_has_the_results_and_the_daily_curves(
    viewer: TestClient, two_runs: tuple[Path, list[str]]
) -> None:
    root, runs = two_runs
    found = viewer.get(
        URL,
        params={"campaign": NAME, "window": "2w", "as_of": "2026-06-30", "run": runs[1]},
        headers={"Accept": "application/json"},
    ).json()
    with Workspace.open(root) as ws:
        want = campaign_results(ws, NAME, run_id=runs[1], window_days=14, as_of=AS_OF)
        [curves] = daily_conversion(ws, NAME, run_id=runs[1], window_days=14, as_of=AS_OF)
    assert found["results"]["window_days"] == 14
    [section] = found["results"]["sections"]
    assert section["run_id"] == runs[1]
    got = {(g["sub_audience"], g["group"]): g for g in section["groups"]}
    for g in want.sections[0].groups:
        assert got[(g.sub_audience, g.group)]["sums"]["purchasers"] == g.sums.purchasers
        assert got[(g.sub_audience, g.group)]["revenue_total"] == float(g.revenue_total)
    [daily] = found["daily"]
    assert daily["days"] == 14
    assert [g["purchasers"] for g in daily["groups"]] == [list(g.purchasers) for g in curves.groups]


def test_the_form_keeps_its_choices(viewer: TestClient, two_runs: tuple[Path, list[str]]) -> None:
    _, runs = two_runs
    page = viewer.get(
        URL, params={"campaign": NAME, "window": "2w", "as_of": "2026-06-01", "run": runs[0]}
    )
    assert page.status_code == 200
    assert 'name="window" value="2w"' in page.text
    assert 'name="as_of" type="date" value="2026-06-01"' in page.text
    assert f'<option value="{runs[0]}" selected>' in page.text
    text = _text(page.text)
    assert "Pooled" not in text
    assert "14 days from each run's launch date" in text
    assert "(not over yet" not in text  # 05-15 + 14 days ends before 06-01
    late = _text(viewer.get(URL, params={"campaign": NAME, "as_of": "2026-05-20"}).text)
    assert "(not over yet: orders until the as-of date only)" in late


@pytest.mark.parametrize(
    ("params", "status", "line"),
    [
        ({"window": "thirty"}, 400, "window 'thirty' is not a number of days"),
        ({"as_of": "June"}, 400, "as of 'June' is not a date: write it as YYYY-MM-DD"),
        ({"campaign": "No Such"}, 404, "'No Such'"),
        ({"campaign": ""}, 404, "no campaign was chosen"),
        ({"run": "run_20260101T000000_abcdef"}, 404, "not found"),
    ],
)
def test_bad_input_is_one_line(
    viewer: TestClient, params: dict[str, str], status: int, line: str
) -> None:
    response = viewer.get(URL, params={"campaign": NAME, **params})
    assert response.status_code == status
    assert line in _text(response.text)
    assert "Traceback" not in response.text
    fragment = viewer.get(URL, params={"campaign": NAME, **params}, headers={"HX-Request": "true"})
    if status == 404:  # an error page's one line for htmx
        assert line in fragment.text
        assert "\n" not in fragment.text.strip()


def test_the_campaigns_list_the_builder_and_each_run_link_to_it(
    viewer: TestClient, two_runs: tuple[Path, list[str]]
) -> None:
    _, runs = two_runs
    link = f'href="{URL}?campaign=Results%20Offer'
    assert link in viewer.get("/campaigns").text
    assert f'{link}&amp;run={runs[0]}"' in viewer.get(f"/runs/{runs[0]}").text
    builder = viewer.post(
        "/campaigns/builder",
        data={"op": "open", "name": NAME, "csrf_token": _csrf(viewer.get("/campaigns").text)},
    )
    assert builder.status_code == 200
    assert f'{link}">Results</a>' in builder.text
