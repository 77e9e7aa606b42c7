"""The four section pages render what the library gives, for a signed-in user."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starlette.testclient import TestClient
from web_app import PASSWORD, app, client, sign_in, web_root

from herald.runs.pipeline import run_campaign
from herald.runs.scheduler import PRESENCE_LOCK
from herald.web.render import NO_SCHEDULER
from herald.workspace import Workspace

__all__ = ["app", "client", "web_root"]  # fixtures


def test_the_navigation_reaches_every_section(client: TestClient) -> None:
    sign_in(client)
    for path, heading in [("/segments", "Segments"), ("/campaigns", "Campaigns"),
                          ("/runs", "Runs"), ("/destinations", "Destinations")]:  # fmt: skip
        page = client.get(path).text
        assert f"<h1>{heading}</h1>" in page
        assert f'<a href="{path}" aria-current="page">{heading}</a>' in page
        for other in ("/segments", "/campaigns", "/runs", "/destinations"):
            assert f'href="{other}"' in page
    assert client.get("/", follow_redirects=False).headers["location"] == "/segments"


def test_a_destination_is_checked_on_demand(client: TestClient) -> None:
    sign_in(client)
    page = client.get("/destinations").text
    assert "files" in page
    assert "csv_file" in page
    assert 'hx-get="/destinations/files/check"' in page
    fragment = client.get("/destinations/files/check", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "✓ ok" in fragment.text
    # without htmx, the whole page with the result in place
    whole = client.get("/destinations/files/check").text
    assert "<h1>Destinations</h1>" in whole
    assert "✓ ok" in whole


def test_an_unknown_destination_is_a_404_page(client: TestClient) -> None:
    sign_in(client)
    response = client.get("/destinations/fils/check")
    assert response.status_code == 404
    assert "no destination &#39;fils&#39; in herald.toml" in response.text
    assert "Did you mean files?" in response.text


def test_a_viewer_sees_no_change_buttons(client: TestClient, web_root: Path) -> None:
    with Workspace.open(web_root) as ws:
        ws.segments.create({"name": "Viewer Sees", "sql": "SELECT amperity_id FROM Customer_360"})
    sign_in(client, "vera", PASSWORD)
    page = client.get("/segments").text
    assert "Viewer Sees" in page
    assert "Activate v" not in page
    assert "Duplicate" not in page


def everyone_to_files(root: Path, campaign: str, segment: str, **extra: object) -> None:
    """Apply an active segment of every customer, and a campaign sending it to the files."""
    doc = {
        "kind": "campaign",
        "name": campaign,
        "include": [segment],
        "remaining": {"groups": [{"name": "All", "percent": 100, "destinations": ["files"]}]},
        **extra,
    }
    with Workspace.open(root) as ws:
        ws.segments.create({"name": segment, "sql": "SELECT amperity_id FROM Customer_360"})
        ws.segments.activate(segment)
        ws.campaigns.apply(doc)


def test_a_viewer_opens_and_refreshes_a_segment_and_previews_a_campaign(
    client: TestClient, web_root: Path
) -> None:
    everyone_to_files(web_root, "Viewer Looks", "Looked At")
    csrf = sign_in(client, "vera", PASSWORD)

    opened = client.post("/segments/open", data={"name": "Looked At", "csrf_token": csrf})
    assert opened.status_code == 200
    assert 'value="Looked At"' in opened.text
    assert "Refresh" in opened.text
    assert "Save draft" not in opened.text
    form = {"csrf_token": csrf, "name": "Looked At", "mode": "sql", "stored": "Looked At",
            "sql": "SELECT amperity_id FROM Customer_360", "action": "refresh"}  # fmt: skip
    refreshed = client.post("/segments/editor", data=form, headers={"HX-Request": "true"})
    assert refreshed.status_code == 200
    assert 'class="figures"' in refreshed.text

    builder = client.post(
        "/campaigns/builder", data={"op": "open", "name": "Viewer Looks", "csrf_token": csrf}
    )
    assert builder.status_code == 200
    assert 'value="Viewer Looks"' in builder.text
    assert 'value="save"' not in builder.text
    assert 'value="sample"' not in builder.text
    assert 'action="/campaigns/schedule"' not in builder.text
    form = {"csrf_token": csrf, "op": "preview", "name": "Viewer Looks"}
    previewed = client.post("/campaigns/builder", data=form)
    assert previewed.status_code == 200, previewed.text
    assert "All" in previewed.text


def test_campaigns_and_runs_show_status_and_last_run(client: TestClient, web_root: Path) -> None:
    everyone_to_files(web_root, "Web Weekly", "Everyone Here")
    # In a thread of its own: the browser tests' Playwright (sync API) keeps an event loop
    # running in this one, where run_campaign refuses to start a second.
    with Workspace.open(web_root) as ws, ThreadPoolExecutor(1) as pool:
        result = pool.submit(run_campaign, ws, "Web Weekly").result()
    sign_in(client)
    campaigns = client.get("/campaigns").text
    assert "Web Weekly" in campaigns
    assert result.run is not None
    assert re.search(
        rf'<td><a href="/runs/{result.run.id}">delivered, \d{{4}}-\d\d-\d\d \d\d:\d\d</a>',
        campaigns,
    )
    runs = client.get("/runs").text
    assert result.run.id in runs
    assert re.search(
        r"<td>Web Weekly v1</td>\s*<td>run</td>\s*<td>manual</td>\s*<td>delivered", runs
    )
    assert "<td>1</td>" in runs  # one recipient


def test_scheduled_campaigns_warn_while_no_scheduler_serves_them(
    client: TestClient, web_root: Path
) -> None:
    daily = {"schedule": "recurring", "cadence": "daily", "time": "09:00"}
    everyone_to_files(web_root, "Web Daily", "Everyone Too", delivery=daily)
    csrf = sign_in(client)
    scheduled = client.post("/campaigns/schedule", data={"name": "Web Daily", "csrf_token": csrf})
    assert "Scheduled; next runs" in scheduled.text
    assert NO_SCHEDULER in scheduled.text
    assert NO_SCHEDULER in client.get("/campaigns").text

    with Workspace.open(web_root) as ws, ws.store.try_lock(PRESENCE_LOCK, shared=True):
        assert NO_SCHEDULER not in client.get("/campaigns").text  # a scheduler serves
    assert NO_SCHEDULER in client.get("/campaigns").text
    with Workspace.open(web_root) as ws:
        ws.campaigns.unschedule("Web Daily")
    assert NO_SCHEDULER not in client.get("/campaigns").text  # nothing waits for one


def test_each_list_has_a_json_twin(client: TestClient) -> None:
    sign_in(client)
    headers = {"Accept": "application/json"}
    destinations = client.get("/destinations", headers=headers)
    assert destinations.headers["content-type"] == "application/json"
    assert {"name": "files", "type": "csv_file"}.items() <= destinations.json()[0].items()
    for path in ("/segments", "/campaigns", "/runs"):
        response = client.get(path, headers=headers)
        assert response.status_code == 200
        assert isinstance(response.json(), list)
    # a browser's Accept (HTML first) gets the page
    page = client.get("/runs", headers={"Accept": "text/html,application/json;q=0.9"})
    assert page.text.startswith("<!doctype html>")
