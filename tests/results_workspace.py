"""A workspace over the demo database with a campaign that has a control group, run once per
launch date to the ``files`` destination, for the results tests (library and web)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from herald.apply import apply_path
from herald.demo.examples import examples_dir
from herald.runs.pipeline import run_campaign
from herald.web._auth import hash_password
from herald.workspace import Workspace

NAME = "Results Offer"
CAMPAIGN = """
kind: campaign
name: Results Offer
include: [Email Opted In]
sub_audiences:
  - name: Big Spenders
    segment: High Value
    groups:
      - {name: Gold, percent: 70, destinations: [files]}
      - {name: Holdout, percent: 30, control: true}
remaining:
  groups:
    - {name: Newsletter, percent: 80, destinations: [files]}
    - {name: Quiet, percent: 20, control: true}
launch_date: LAUNCH
"""
AS_OF = dt.datetime(2026, 6, 30, tzinfo=dt.UTC)  # the demo data's as-of date
PASSWORD = "correct horse battery"


def results_workspace(
    folder: Path, database: Path, launches: Sequence[str]
) -> tuple[Path, list[str]]:
    """A workspace at ``folder/ws`` over ``database`` (the demo's), with the example segments,
    the web users vera (viewer) and ed (editor), and :data:`CAMPAIGN` applied and run once per
    launch date; the workspace's root and the runs' ids, oldest first.

    The runs go through a worker thread: a browser test's Playwright keeps an event loop
    running in the test's thread, where ``run_campaign`` refuses to start.
    """
    root = folder / "ws"
    Workspace.init(root, database=str(database)).close()
    with Workspace.open(root) as ws:
        apply_path(ws, examples_dir() / "segments")
        ws.store.save_web_user("vera", hash_password(PASSWORD), "viewer")
        ws.store.save_web_user("ed", hash_password(PASSWORD), "editor")
        runs = []
        for launch in launches:
            path = folder / f"campaign-{launch}.yaml"
            path.write_text(CAMPAIGN.replace("LAUNCH", launch), encoding="utf-8")
            apply_path(ws, path)
            with ThreadPoolExecutor(1) as pool:
                result = pool.submit(run_campaign, ws, NAME, today=AS_OF.date()).result()
            assert result.run.status == "delivered", result.run.error
            runs.append(result.run.id)
    return root, runs
