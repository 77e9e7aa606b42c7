"""The seed's whole flow in a real browser, against ``herald web --scheduler`` in a process of
its own: build a segment with drop-downs and a picklist, refresh its insights and see the
waterfall, activate it; build a campaign with an exclusion, two sub-audiences and groups with a
control group, see the error while the percentages do not total 100, edit attributes, preview
and estimate, test run and download the sample; press Schedule (as soon as possible), watch the
delivery to the Klaviyo sandbox finish on the run page, and find the lists and their members in
the sandbox."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import axe_violations, choose, settled, sign_in_by_keyboard
from expected_members import expected_emails
from playwright.sync_api import Page, expect
from ports import free_port
from sandbox_workspace import init_workspace, klaviyo_table, list_members, start_herald
from web_app import TOKEN

from herald.apply import apply_path
from herald.demo.examples import examples_dir
from herald.sandbox import SandboxConfig, SandboxServer
from herald.web._auth import TOKEN_ENV
from herald.workspace import Workspace

SEGMENT = "Loyal Members"
CAMPAIGN = "Loyalty Launch"
GROUPS = {"West": "West coast", "VIP": "Big spenders", "Offer": "remaining"}
"""The groups that deliver, by sub-audience; ``Holdout`` is the control group."""


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(limits="off", job_tick=0.01)) as server:
        yield server


@pytest.fixture
def root(tmp_path: Path, demo_db: Path, sandbox: SandboxServer) -> Path:
    """The demo database with the example segments, a Klaviyo sandbox as ``klaviyo`` and a
    scheduler that looks every second."""
    root = init_workspace(tmp_path, demo_db, {"klaviyo": klaviyo_table(sandbox)})
    with (root / "herald.toml").open("a", encoding="utf-8") as config:
        config.write('\n[scheduler]\npoll = "1s"\n')
    with Workspace.open(root) as ws:
        apply_path(ws, examples_dir() / "segments")
    return root


@pytest.fixture
def base_url(root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``herald web --scheduler`` serving the workspace on a free loopback port."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    port = free_port()
    service = start_herald(root, "web", "--scheduler", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, service)
        yield url
    finally:
        os.killpg(service.pid, signal.SIGTERM)  # as Ctrl-C would: the scheduler stops too
        _out, err = service.communicate(timeout=30)
        assert service.returncode == 0, err


def wait_until_serving(url: str, service: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise AssertionError(f"herald web ended: {service.communicate()[1]}")
        try:
            with urllib.request.urlopen(f"{url}/login", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError(f"herald web did not answer on {url} in {seconds} s")


def build_segment(page: Page) -> None:
    """Silver, Gold and Platinum members (picked from the picklist) opted into email;
    activated."""
    page.locator("#f-name").fill(SEGMENT)
    choose(page, "#f-r-0-column", "loyalty_tier")
    page.get_by_role("button", name="Pick values…").click()
    picks = page.locator("#f-r-0-picklist")
    for tier in ("Silver", "Gold", "Platinum"):
        picks.get_by_label(tier).check()
    page.locator("#f-r-add-condition").click()
    settled(page)
    choose(page, "#f-r-1-column", "is_opted_into_email")
    expect(page.locator("#f-r-1-op")).to_have_value("is_true")

    page.get_by_role("button", name="Refresh").click()
    expect(page.locator(".figures")).to_contain_text("Customers")
    counts = page.locator(".count")
    expect(counts).to_have_count(2)
    tiers, opted = (int(counts.nth(i).inner_text().split()[-1].replace(",", "")) for i in (0, 1))
    assert 3_000 > tiers > opted > 0  # the waterfall narrows
    assert axe_violations(page) == []

    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("status")).to_contain_text("Activated v1.")


def field(name: str, value: str | None = None) -> str:
    """A CSS selector for the builder's input ``name`` (names hold dots, ids would need escapes)."""
    return f'[name="{name}"]' + (f'[value="{value}"]' if value else "")


def build_campaign(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/campaigns/builder")
    page.get_by_label("Name", exact=True).fill(CAMPAIGN)
    page.get_by_label("Include segments").select_option([SEGMENT])
    page.get_by_label("Exclude segments").select_option(["Do Not Contact"])
    for _ in range(2):
        page.get_by_role("button", name="Add a sub-audience").click()
    for key, (group, sub) in zip(("s0", "s1"), list(GROUPS.items())[:2], strict=True):
        page.locator(field(f"{key}.name")).fill(sub)
        page.locator(field(f"{key}.g0.name")).fill(group)
        page.locator(field(f"{key}.g0.dest", "klaviyo")).check()
    page.locator(field("s0.segment")).select_option("West Coast Loyalty")
    page.locator(field("s1.segment")).select_option("High Value")

    page.locator(field("r.g0.name")).fill("Offer")
    page.locator(field("r.g0.dest", "klaviyo")).check()
    page.get_by_role("button", name="Add a group").last.click()
    page.locator(field("r.g0.percent")).fill("90")
    expect(page.locator("#r-total")).to_have_text("Total: 90%, must be 100%")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("total 90%: make them total 100%")
    page.locator(field("r.g1.name")).fill("Holdout")
    page.locator(field("r.g1.percent")).fill("10")
    expect(page.locator("#r-total")).to_have_text("Total: 100%")
    page.locator(field("r.g1.control")).check()

    page.locator(field("r.g0.klaviyo.custom")).locator("xpath=..").locator("summary").click()
    page.locator(field("r.g0.klaviyo.custom")).check()
    attributes = page.locator(field("r.g0.klaviyo.attrs"))
    expect(attributes).to_contain_text("email")  # the destination's defaults, pre-filled
    attributes.fill(attributes.input_value() + "\ngiven_name -> first_name")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved: version 1")


def preview_and_test_run(page: Page) -> None:
    page.get_by_role("button", name="Preview").click()
    preview = page.get_by_role("table").first
    for name in ("VIP", "West", "Offer", "Holdout (control)"):
        expect(preview).to_contain_text(name)
    page.get_by_role("button", name="Estimate").click()
    expect(page.get_by_text("By API: about")).to_be_visible()
    page.get_by_role("button", name="Test run").click()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download").first.click()
    assert "@" in Path(info.value.path()).read_text(encoding="utf-8")
    assert axe_violations(page) == []


def schedule_and_watch(page: Page, base_url: str) -> str:
    """Press Schedule, open the run from the Campaigns page once it started, and watch it
    finish; the run's id."""
    page.get_by_role("button", name="Schedule", exact=True).click()
    notice = page.get_by_role("status")
    expect(notice).to_contain_text("Scheduled; next runs")
    expect(notice).not_to_contain_text("No scheduler")  # the one beside the web app serves

    page.goto(f"{base_url}/campaigns")
    row = page.get_by_role("row").filter(has_text=CAMPAIGN)
    deadline = time.monotonic() + 60
    while not row.get_by_role("link").count() and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        page.reload()
    row.get_by_role("link").first.click()
    expect(page.get_by_role("status")).to_contain_text("delivered", timeout=120_000)
    expect(page.get_by_role("heading", name="Details")).to_be_visible()
    lists = page.get_by_role("table", name="Lists")
    for group in GROUPS:
        expect(lists).to_contain_text(f"Loyalty_Launch_{group}")
    assert axe_violations(page) == []
    return page.url.rsplit("/", 1)[-1]


def test_the_seed_flow_from_a_segment_to_lists_in_the_sandbox(
    page: Page, base_url: str, root: Path, sandbox: SandboxServer
) -> None:
    sign_in_by_keyboard(page, f"{base_url}/segments/new", TOKEN)
    build_segment(page)
    build_campaign(page, base_url)
    preview_and_test_run(page)
    run_id = schedule_and_watch(page, base_url)

    database = root.parent / "customers.duckdb"
    with Workspace.open(root) as ws:
        run = ws.store.get_run(run_id)
        assert (run.trigger, run.status, run.started_by) == ("schedule", "delivered", "scheduler")
        lists = {d.group: d.list_name for d in ws.store.run_deliveries(run_id)}
    assert set(lists) == set(GROUPS)
    for group, list_name in lists.items():
        members = list_members(sandbox, list_name)
        assert members, f"{list_name} is empty"
        assert members == expected_emails(root, database, run_id, group)
