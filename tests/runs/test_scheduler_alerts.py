"""Alerts of scheduled runs. A run whose Klaviyo destination fails: the CSV file is still
delivered, the run ends in error naming the destination, the campaign stays scheduled, and
the webhook of ``[notifications]`` receives the failure, signed (checked with hmac,
independently). A run that takes longer than its estimate times ``slow_factor`` is announced
once as slow."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alert_receiver import SECRET, Receiver, serve
from click.testing import CliRunner
from sandbox_workspace import NAME, daily_workspace

from herald.apply import apply_path
from herald.cli.main import main
from herald.config import SchedulerSettings
from herald.runs.scheduler import Scheduler
from herald.sandbox import DEFAULT_API_KEY, SandboxServer
from herald.workspace import Workspace

pytestmark = pytest.mark.slow

SLOT = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)
ONE_DESTINATION = "destinations: [klaviyo]}"
TWO_DESTINATIONS = "destinations: [klaviyo, files]}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve() as box:
        yield box


def alerting_workspace(
    tmp_path: Path, demo_db: Path, sandbox: SandboxServer, receiver: Receiver, notifications: str
) -> Path:
    """The daily campaign to Klaviyo and a CSV file, scheduled, alerts to ``receiver``."""
    root = daily_workspace(tmp_path, demo_db, sandbox)
    campaign = (root / "campaign.yaml").read_text(encoding="utf-8")
    (root / "campaign.yaml").write_text(
        campaign.replace(ONE_DESTINATION, TWO_DESTINATIONS), encoding="utf-8"
    )
    with (root / "herald.toml").open("a", encoding="utf-8") as config:
        config.write(
            f"\n[notifications]\n{notifications}\n\n[notifications.webhook]\n"
            f'url = "{receiver.url}"\nsecret_env = "HERALD_TEST_WEBHOOK_SECRET"\nretries = 1\n'
        )
    with Workspace.open(root) as ws:
        apply_path(ws, root / "campaign.yaml")
        ws.campaigns.schedule(NAME, now=SLOT - dt.timedelta(hours=1))
    return root


@pytest.fixture
def workspace(tmp_path: Path, demo_db: Path, sandbox: SandboxServer, receiver: Receiver) -> Path:
    return alerting_workspace(tmp_path, demo_db, sandbox, receiver, 'on = ["failure", "success"]')


def test_one_failing_destination_leaves_the_other_delivered_and_alerts(
    workspace: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLAVIYO_API_KEY", "pk_" + "0" * 34)  # a key the sandbox does not know
    monkeypatch.setenv("HERALD_TEST_WEBHOOK_SECRET", SECRET)
    with Workspace.open(workspace) as ws:
        loop = Scheduler(ws, SchedulerSettings(), clock=lambda: SLOT)
        [run_id] = loop.tick().started
        loop.drain(timeout=120)
        run = ws.store.get_run(run_id)
        deliveries = ws.store.run_deliveries(run_id)
        status = ws.store.campaign_status(NAME).status

    assert run.status == "error"
    assert run.error is not None
    assert "klaviyo 'Daily_Digest_Listed'" in run.error
    assert "files" not in run.error
    [written] = (workspace / "exports").glob("Daily_Digest_Listed*.csv")
    assert written.stat().st_size > 0
    assert [d.status for d in deliveries if d.destination == "klaviyo"] == ["failed"]
    assert status == "scheduled"  # a recurring campaign stays scheduled after a failed run
    env = {"HERALD_WORKSPACE": str(workspace)}
    listed = CliRunner().invoke(main, ["campaign", "list", "--json"], env=env)
    [row] = json.loads(listed.stdout)
    assert (row["status"], row["last_run"]) == ("scheduled", "error")  # the failure is visible

    [request] = receiver.requests
    stamp = request.headers["X-Herald-Timestamp"]
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + request.body, hashlib.sha256)
    assert request.headers["X-Herald-Signature"] == f"sha256={expected.hexdigest()}"
    body = json.loads(request.body)
    assert (body["event"], body["run_id"], body["status"]) == ("failure", run_id, "error")
    assert (body["campaign"], body["trigger"]) == (NAME, "schedule")
    assert "Daily_Digest_Listed" in json.dumps(body["errors"])
    assert SECRET not in request.body.decode()


def test_a_run_longer_than_its_estimate_times_the_factor_is_announced_once(
    tmp_path: Path,
    demo_db: Path,
    stalled: SandboxServer,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = alerting_workspace(
        tmp_path, demo_db, stalled, receiver, 'on = ["slow"]\nslow_factor = 1.0'
    )
    monkeypatch.setenv("KLAVIYO_API_KEY", DEFAULT_API_KEY)
    monkeypatch.setenv("HERALD_TEST_WEBHOOK_SECRET", SECRET)
    with Workspace.open(root) as ws:
        loop = Scheduler(ws, SchedulerSettings(), clock=lambda: SLOT)
        [run_id] = loop.tick().started
        try:
            deadline = time.monotonic() + 120
            while not receiver.requests and time.monotonic() < deadline:
                loop.tick()
                time.sleep(0.2)
            for _ in range(5):  # later ticks do not announce it again
                loop.tick()
            time.sleep(0.5)
        finally:
            loop.stop_workers()

    [request] = receiver.requests
    body = json.loads(request.body)
    assert (body["event"], body["run_id"], body["status"]) == ("slow", run_id, "running")
    assert body["estimate_seconds"] > 0
    assert body["seconds"] > body["estimate_seconds"]
    assert "estimate" in body["reason"]
