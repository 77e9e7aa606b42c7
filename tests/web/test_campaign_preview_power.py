"""The Campaign builder's Preview: each group's minimum detectable effect on conversion, and a
visible warning when a control group is too small, on a demo database as of today."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import pytest
import yaml
from starlette.testclient import TestClient
from web_app import PASSWORD, app, client, sign_in

from herald.apply import apply_path
from herald.demo.examples import examples_dir
from herald.demo.generate import generate_demo_database
from herald.runs.preview import preview_campaign
from herald.web._auth import hash_password
from herald.workspace import Workspace

__all__ = ["app", "client"]  # fixtures

CAMPAIGN = {
    "kind": "campaign",
    "name": "Power Check",
    "include": ["Email Opted In"],
    "sub_audiences": [
        {
            "name": "Big Spenders",
            "segment": "High Value",
            "groups": [
                {"name": "Gold", "percent": 98, "destinations": ["files"]},
                {"name": "Tiny Holdout", "percent": 2, "control": True},
            ],
        },
        {
            "name": "Recent Buyers",
            "where": {"has_purchased": {"within": "60 days"}},
            "groups": [
                {"name": "Offer", "percent": 50, "destinations": ["files"]},
                {"name": "Holdout", "percent": 50, "control": True},
            ],
        },
    ],
    "remaining": {"groups": [{"name": "Newsletter", "percent": 100, "destinations": ["files"]}]},
}


@pytest.fixture(scope="module")
def web_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace over 12,000 demo customers as of today, with the example segments, the
    campaign above, and the users of the web tests."""
    folder = tmp_path_factory.mktemp("power-web")
    database = folder / "customers.duckdb"
    today = dt.datetime.now(dt.UTC).date()
    generate_demo_database(database, customers=12_000, seed=5, as_of=today)
    with Workspace.init(folder / "ws", database=str(database)) as ws:
        ws.store.save_web_user("ed", hash_password(PASSWORD), "editor")
        apply_path(ws, examples_dir() / "segments")
        path = folder / "power.yaml"
        path.write_text(yaml.safe_dump(CAMPAIGN), encoding="utf-8")
        apply_path(ws, path)
        return ws.root


def test_the_preview_shows_the_mde_and_warns_of_a_small_control(
    client: TestClient, web_root: Path
) -> None:
    csrf = sign_in(client, "ed", PASSWORD)
    page = client.post(
        "/campaigns/builder", data={"name": "Power Check", "op": "preview", "csrf_token": csrf}
    )
    assert page.status_code == 200, page.text
    text = html.unescape(page.text)
    assert "Minimum detectable effect on conversion" in text
    with Workspace.open(web_root) as ws:
        power = {p.group: p for p in preview_campaign(ws, "Power Check").power}
    gold, offer = power["Gold"], power["Offer"]
    assert gold.too_small
    assert not offer.too_small
    assert offer.mde is not None
    # The warning is on the page, visibly (a status paragraph), for the small control only.
    warnings = [part.split("</p>")[0] for part in text.split('class="warning" role="status">')[1:]]
    assert warnings == [gold.warning()]
    assert f"+{offer.mde * 100:.2f} points" in text
