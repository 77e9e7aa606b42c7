"""The run page, its live progress fragment, its CSV downloads and the editors' run actions,
over real runs delivered to a Klaviyo sandbox."""

from __future__ import annotations

import re
import signal
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sandbox_workspace import KEY_ENV, NAME, daily_workspace, herald, list_members
from starlette.testclient import TestClient
from web_app import PASSWORD, TOKEN, app, client, make_app, sign_in

from herald.engines.localdb import write_csv
from herald.runs.groups import RunResult
from herald.runs.pipeline import run_campaign
from herald.runs.progress import run_progress
from herald.runs.snapshots import read_parquet_files
from herald.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxServer
from herald.web._auth import TOKEN_ENV, hash_password
from herald.workspace import Workspace

__all__ = ["app", "client"]  # fixtures

LIST = "Daily_Digest_Listed"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(limits="off", job_tick=0.01)) as server:
        yield server


def _run(ws: Workspace) -> RunResult:
    """Run the campaign in a thread of its own: Playwright's sync API (browser tests in the
    same session) keeps an event loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run_campaign, ws, NAME).result()


def _users(root: Path) -> None:
    with Workspace.open(root) as ws:
        ws.store.save_web_user("vera", hash_password(PASSWORD), "viewer")


@pytest.fixture(scope="module")
def web_root(
    tmp_path_factory: pytest.TempPathFactory, demo_db: Path, sandbox: SandboxServer
) -> Iterator[Path]:
    """A workspace whose daily campaign was run once, delivered to the sandbox."""
    root = daily_workspace(tmp_path_factory.mktemp("runpages"), demo_db, sandbox)
    _users(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_ENV, DEFAULT_API_KEY)
        with Workspace.open(root) as ws:
            assert _run(ws).run.status == "delivered"  # type: ignore[union-attr]
        yield root


def _the_run(root: Path) -> str:
    """The campaign's first run (newer ones may follow in later tests)."""
    with Workspace.open(root) as ws:
        return ws.store.list_runs(NAME)[-1].id


def test_a_delivered_run_shows_its_details_and_stops_polling(
    client: TestClient, web_root: Path
) -> None:
    sign_in(client, "vera", PASSWORD)
    run_id = _the_run(web_root)
    html = client.get(f"/runs/{run_id}").text
    assert "Status: <strong" in html
    assert ">delivered<" in html
    assert "hx-trigger" not in html  # a finished run is not polled
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None  # CSP: nothing inline
    assert " style=" not in html
    assert "<style" not in html
    for heading in ["Details", "Time per phase and list", "Recipients", "List changes"]:
        assert f"<h2>{heading}</h2>" in html
    assert "Email Opted In v1" in html  # the pinned segment
    assert LIST in html
    assert f"/runs/{run_id}/recipients.csv" in html
    assert f"/runs/{run_id}/outcomes.csv" in html
    assert "<form" not in html.split("<main", 1)[1].split("All runs")[1]  # a viewer: no actions
    fragment = client.get(f"/runs/{run_id}/progress", headers={"HX-Request": "true"}).text
    assert fragment.startswith('<div id="run-progress">')
    assert "100%" in fragment


def test_the_lists_link_to_the_run_page(client: TestClient, web_root: Path) -> None:
    sign_in(client)
    run_id = _the_run(web_root)
    assert f'href="/runs/{run_id}"' in client.get("/runs").text
    campaigns = client.get("/campaigns").text
    assert f'href="/runs/{run_id}"' in campaigns
    # A campaign opens in the builder by a POST carrying its name (never a name in a URL).
    assert 'name="name" value="Daily Digest"' in campaigns


@pytest.mark.parametrize("what", ["recipients", "outcomes"])
def test_the_csv_downloads_are_the_librarys_exports(
    client: TestClient, web_root: Path, tmp_path: Path, what: str
) -> None:
    sign_in(client, "vera", PASSWORD)
    run_id = _the_run(web_root)
    temporary = Path(tempfile.gettempdir())
    before = set(temporary.glob("herald-download-*.csv"))
    response = client.get(f"/runs/{run_id}/{what}.csv")
    assert set(temporary.glob("herald-download-*.csv")) <= before  # removed once sent
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="{run_id}-{what}.csv"' in response.headers["content-disposition"]
    with Workspace.open(web_root) as ws:
        folder = ws.runs_dir / run_id
    files = (
        [folder / "recipients_log.parquet"]
        if what == "recipients"
        else sorted((folder / "deliveries").glob("*/outcomes.parquet"))
    )
    table = read_parquet_files(files)
    expected = tmp_path / "expected.csv"
    write_csv(table, expected, table.column_names)
    assert response.content == expected.read_bytes()
    assert len(response.text.splitlines()) == table.num_rows + 1 > 100
    assert "@" not in response.text  # customer keys only


def test_unknown_runs_and_downloads_are_404(client: TestClient, web_root: Path) -> None:
    sign_in(client)
    assert client.get("/runs/run_nope").status_code == 404
    assert client.get("/runs/run_nope/progress").status_code == 404
    run_id = _the_run(web_root)
    assert client.get(f"/runs/{run_id}/secrets.csv").status_code == 404


def test_actions_on_a_delivered_run_are_refused_with_one_line(
    client: TestClient, web_root: Path
) -> None:
    csrf = sign_in(client)
    run_id = _the_run(web_root)
    for action, says in [
        ("resume", "only an interrupted run can be resumed"),
        ("cancel", "is delivered, not running: there is nothing to cancel"),
        ("retry", "only a failed run can be retried (it delivered everything)"),
    ]:
        response = client.post(f"/runs/{run_id}/{action}", data={"csrf_token": csrf})
        assert response.status_code == 400, action
        assert says in response.text


def test_a_running_run_is_polled_and_shows_each_lists_progress(
    client: TestClient, web_root: Path
) -> None:
    csrf = sign_in(client)
    with Workspace.open(web_root) as ws:
        version = ws.store.get("campaign", NAME, "active").version
        run = ws.store.start_run(NAME, version, as_of=datetime.now(UTC), pins={})
        at = datetime.now(UTC)
        where = {"destination": "klaviyo", "list_name": LIST}
        ws.store.add_run_events(
            run.id,
            [
                (at, "phase_started", {"phase": "deliver"}),
                (at, "planned", {**where, "counts": {"adds": 300, "removes": 100}}),
                (at, "batch_confirmed", {**where, "batch": {"rows": 100}, "confirmed": 100}),
            ],
        )
    try:
        html = client.get(f"/runs/{run.id}").text
        assert 'hx-trigger="every 1s"' in html
        assert f'hx-get="/runs/{run.id}/progress"' in html
        assert ">interrupted<" in html  # no process works on it
        assert '<progress max="100" value="25"' in html
        assert "deliver: running…" in html
        assert "/resume" in html
        assert "/cancel" in html
        response = client.post(f"/runs/{run.id}/cancel", data={"csrf_token": csrf})
        assert response.status_code == 200  # back on the run page
        with Workspace.open(web_root) as ws:
            assert ws.store.get_run(run.id).cancel_requested
    finally:
        with Workspace.open(web_root) as ws:
            for _ in range(100):  # the cancel's own thread ends the run
                if ws.store.get_run(run.id).status != "running":
                    break
                time.sleep(0.1)
            else:
                ws.store.finish_run(run.id, "cancelled")


def _app_over(root: Path) -> Iterator[TestClient]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TOKEN_ENV, TOKEN)
        patch.setenv(KEY_ENV, DEFAULT_API_KEY)
        web = make_app(root)
        with TestClient(web, base_url="http://127.0.0.1") as test_client:
            yield test_client


def _wait_for(root: Path, run_id: str, seconds: float = 120) -> str:
    deadline = time.monotonic() + seconds
    with Workspace.open(root) as ws:
        while time.monotonic() < deadline:
            run = ws.store.get_run(run_id)
            if run.status != "running":
                return run.status
            time.sleep(0.2)
    return "running"


def test_an_interrupted_run_is_resumed_by_a_worker_process(
    tmp_path: Path, demo_db: Path, sandbox: SandboxServer
) -> None:
    root = daily_workspace(tmp_path, demo_db, sandbox)
    killed = herald(root, "campaign", "run", NAME, "--yes", crash_at="delivery_midway")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run_id = _the_run(root)
    for test_client in _app_over(root):
        csrf = sign_in(test_client)
        assert ">interrupted<" in test_client.get(f"/runs/{run_id}").text
        response = test_client.post(
            f"/runs/{run_id}/resume", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/runs/{run_id}"
        assert _wait_for(root, run_id) == "delivered"
        assert ">delivered<" in test_client.get(f"/runs/{run_id}").text
    assert list_members(sandbox, LIST)


def test_a_failed_run_is_retried_and_its_page_opened(
    tmp_path: Path, demo_db: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = daily_workspace(tmp_path, demo_db, sandbox)
    monkeypatch.delenv(KEY_ENV, raising=False)
    with Workspace.open(root) as ws:
        failed = _run(ws).run
    assert failed is not None
    assert failed.status == "error"
    for test_client in _app_over(root):  # the key is set now
        csrf = sign_in(test_client)
        page = test_client.get(f"/runs/{failed.id}").text
        assert "<h2>Errors</h2>" in page
        assert "/retry" in page
        response = test_client.post(
            f"/runs/{failed.id}/retry", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert response.status_code == 303
        retry_id = response.headers["location"].removeprefix("/runs/")
        assert retry_id != failed.id
        assert _wait_for(root, retry_id) == "delivered"
        with Workspace.open(root) as ws:
            assert ws.store.get_run(retry_id).retry_of == failed.id


def test_progress_folds_events_into_lists_and_phases() -> None:
    from herald.state import RunEvent

    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    later = datetime(2026, 12, 1, 9, 0, 10, tzinfo=UTC)
    where = {"destination": "k", "list_name": "L"}
    events = [
        RunEvent(1, "r", at, "phase_started", {"phase": "build"}),
        RunEvent(2, "r", at, "phase_finished", {"phase": "build", "seconds": 1.5}),
        RunEvent(3, "r", at, "planned", {**where, "counts": {"adds": 150, "updates": 50}}),
        RunEvent(4, "r", later, "batch_confirmed", {**where, "confirmed": 50, "sent": 100}),
    ]
    progress = run_progress(events)
    assert progress.phases == {"build": 1.5}
    [item] = progress.lists
    assert (item.planned, item.sent, item.confirmed, item.percent) == (200, 100, 50, 25)
    assert item.eta_seconds == 30.0  # 10 s for 50, 150 left
    assert progress.last_id == 4
    assert progress.finished is None
    done = run_progress([*events, RunEvent(5, "r", later, "done", {**where, "counts": {}})])
    assert done.lists[0].percent == 100
    assert done.lists[0].eta_seconds is None


def test_a_klaviyo_destination_is_checked_against_the_sandbox(
    client: TestClient, web_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(client, "vera", PASSWORD)
    page = client.get("/destinations").text
    assert "klaviyo_api" in page
    assert KEY_ENV in page
    assert DEFAULT_API_KEY not in page
    monkeypatch.setenv(KEY_ENV, DEFAULT_API_KEY)
    fragment = client.get("/destinations/klaviyo/check", headers={"HX-Request": "true"}).text
    assert "✓ ok" in fragment
    assert DEFAULT_API_KEY not in fragment
    monkeypatch.delenv(KEY_ENV)
    fragment = client.get("/destinations/klaviyo/check", headers={"HX-Request": "true"}).text
    assert "✗ failed" in fragment
    assert KEY_ENV in fragment  # says which variable to set


def test_the_runs_list_filters_by_campaign_and_the_run_page_has_a_json_twin(
    client: TestClient, web_root: Path
) -> None:
    sign_in(client)
    run_id = _the_run(web_root)
    assert 'href="/runs?campaign=Daily%20Digest"' in client.get("/campaigns").text
    assert run_id in client.get("/runs", params={"campaign": NAME}).text
    assert run_id not in client.get("/runs", params={"campaign": "Another"}).text
    data = client.get(f"/runs/{run_id}", headers={"Accept": "application/json"}).json()
    assert data["status"] == "delivered"
    assert data["run"]["id"] == run_id
    assert data["progress"]["lists"][0]["list_name"] == LIST
    assert data["deliveries"][0]["counts"]["adds"] > 0


def test_progress_folds_new_events_into_what_it_had() -> None:
    from herald.state import RunEvent

    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    where = {"destination": "k", "list_name": "L"}
    first = [
        RunEvent(1, "r", at, "phase_started", {"phase": "deliver"}),
        RunEvent(2, "r", at, "planned", {**where, "counts": {"adds": 100}}),
    ]
    progress = run_progress(first)
    more = [
        RunEvent(2, "r", at, "planned", {**where, "counts": {"adds": 999}}),  # seen: skipped
        RunEvent(3, "r", at, "batch_confirmed", {**where, "confirmed": 40}),
        RunEvent(4, "r", at, "phase_finished", {"phase": "deliver", "seconds": 2.0}),
    ]
    again = run_progress(more, into=progress)
    assert again is progress
    assert again.lists[0].planned == 100
    assert again.lists[0].percent == 40
    assert again.phases == {"deliver": 2.0}
    assert again.last_id == 4
