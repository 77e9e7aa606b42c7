"""A workspace with a daily campaign delivered to the Klaviyo sandbox, for scheduler tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from herald.apply import apply_path
from herald.demo.examples import examples_dir
from herald.sandbox import DEFAULT_API_KEY, SandboxServer
from herald.state import StateStore
from herald.workspace import Workspace

NAME = "Daily Digest"
LIST = "Daily_Digest_Listed"
CAMPAIGN = f"""
kind: campaign
name: {NAME}
include: [Email Opted In]
exclude: [Do Not Contact]
remaining:
  groups:
    - {{name: Listed, percent: 90, destinations: [klaviyo]}}
    - {{name: Held, percent: 10, control: true}}
delivery:
  schedule: recurring
  cadence: daily
  start: 2026-12-01 09:00
  timezone: UTC
"""


def make_workspace(
    tmp_path: Path, demo_db: Path, sandbox: SandboxServer, *, state_url: str | None = None
) -> Path:
    """A workspace over a copy of the demo database, Klaviyo at the sandbox, the campaign
    applied (not scheduled)."""
    database = tmp_path / "customers.duckdb"
    shutil.copyfile(demo_db, database)
    root = tmp_path / "ws"
    Workspace.init(root, database=str(database)).close()
    config = root / "herald.toml"
    text = config.read_text(encoding="utf-8")
    if state_url is not None:
        text = text.replace('url = "sqlite:///.herald/state.db"', f'url = "{state_url}"')
        StateStore.open(state_url, create=True).close()  # as `herald init` would
    text += (
        '\n[destinations.klaviyo]\ntype = "klaviyo_api"\napi_key_env = "KLAVIYO_API_KEY"\n'
        f'base_url = "{sandbox.url}"\npoll_interval = 0.05\n'
    )
    config.write_text(text, encoding="utf-8")
    (root / "campaign.yaml").write_text(CAMPAIGN, encoding="utf-8")
    with Workspace.open(root) as ws:
        apply_path(ws, examples_dir() / "segments")
        apply_path(ws, root / "campaign.yaml")
    return root


def herald_env(root: Path) -> dict[str, str]:
    env = {**os.environ, "KLAVIYO_API_KEY": DEFAULT_API_KEY, "HERALD_WORKSPACE": str(root)}
    env.pop("HERALD_CRASH_AT", None)
    return env


def start_herald(root: Path, *args: str) -> subprocess.Popen[str]:
    """``herald ARGS`` in a process group of its own (so a test can kill it with its workers)."""
    return subprocess.Popen(
        [sys.executable, "-m", "herald", *args],
        env=herald_env(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def members(server: SandboxServer) -> set[str]:
    state = server.state
    [found] = [k for k in state.lists() if k.name == LIST]
    return {state.profile(pid).email.lower() for pid in state.list_members(found.id)}


@contextmanager
def stepping_jobs(server: SandboxServer, interval: float = 0.05) -> Iterator[None]:
    """Step a ``job_tick=None`` sandbox's import jobs in the background while inside."""
    done = threading.Event()

    def step() -> None:
        while not done.wait(interval):
            server.state.run_jobs()

    thread = threading.Thread(target=step, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=10)
