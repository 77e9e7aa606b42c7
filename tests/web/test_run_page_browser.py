"""The run page in a real browser: a run started by ``herald campaign run`` in another process,
delivering to a Klaviyo sandbox whose import jobs wait, shows its live progress; once the jobs
move it shows the finished run (delivered) without a reload; no serious or critical
accessibility violation on either."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import axe_violations, serve_app, sign_in_by_keyboard
from playwright.sync_api import Page, expect
from sandbox_workspace import (
    KEY_ENV,
    NAME,
    daily_workspace,
    list_members,
    start_herald,
    stepping_jobs,
)
from web_app import TOKEN, make_app

from herald.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxServer
from herald.web._auth import TOKEN_ENV
from herald.workspace import Workspace

LIST = "Daily_Digest_Listed"


@pytest.fixture
def stalled() -> Iterator[SandboxServer]:
    """A sandbox whose import jobs only move when the test steps them."""
    with SandboxServer(SandboxConfig(limits="off", job_tick=None)) as server:
        yield server


def _run_started(root: Path, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    with Workspace.open(root) as ws:
        while time.monotonic() < deadline:
            runs = ws.store.list_runs(NAME)
            if runs:
                return runs[0].id
            time.sleep(0.1)
    raise AssertionError("the run did not start")


def test_the_run_page_follows_a_run_of_another_process_to_its_end(
    page: Page,
    tmp_path: Path,
    demo_db: Path,
    stalled: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = daily_workspace(tmp_path, demo_db, stalled)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv(KEY_ENV, DEFAULT_API_KEY)
    process = start_herald(root, "campaign", "run", NAME, "--yes")
    try:
        with serve_app(make_app(root)) as base_url:
            run_id = _run_started(root)
            sign_in_by_keyboard(page, f"{base_url}/runs", TOKEN)
            page.goto(f"{base_url}/runs/{run_id}")
            status = page.get_by_role("status")
            expect(status).to_contain_text("running")
            # the list's batches are sent; the sandbox holds their jobs, so it stays live
            lists = page.get_by_role("table", name="Lists")
            row = lists.get_by_role("row").filter(has_text=LIST)
            expect(row).to_contain_text("sending", timeout=60_000)
            expect(row.get_by_role("progressbar")).to_be_visible()
            assert axe_violations(page) == []

            with stepping_jobs(stalled, interval=0.02):
                expect(status).to_contain_text("delivered", timeout=90_000)
                _, stderr = process.communicate(timeout=90)
                assert process.returncode == 0, stderr
            expect(page.get_by_role("heading", name="Details")).to_be_visible()
            expect(page.get_by_role("link", name="Recipients log (CSV)")).to_be_visible()
            expect(row).to_contain_text("100%")
            assert axe_violations(page) == []
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()  # closes its pipes
    assert list_members(stalled, LIST)
