"""Workspaces delivered to Klaviyo sandboxes, and ``herald`` run in a subprocess against them.

A workspace lives at ``tmp_path / "ws"`` over a copy of the session's demo database at
``tmp_path / "customers.duckdb"`` (a test may churn it; `workspace_database` finds it), with
the example segments and one campaign applied. The daily campaign the scheduler tests share is
here too (`daily_workspace`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from herald.apply import apply_path
from herald.demo.examples import examples_dir
from herald.sandbox import DEFAULT_API_KEY, SandboxServer
from herald.state import StateStore
from herald.workspace import Workspace

KEY_ENV = "KLAVIYO_API_KEY"


def daily_campaign(
    name: str, *groups: str, exclude: str | None = "Do Not Contact", end: str | None = "never"
) -> str:
    """The YAML of a campaign run daily at 09:00 UTC from 2026-12-01 for the example segment
    ``Email Opted In`` less ``exclude``, its remaining customers split into ``groups``
    (each a YAML flow mapping, ``{name: ..., percent: ..., destinations: [...]}``)."""
    lines = ["kind: campaign", f"name: {name}", "include: [Email Opted In]"]
    if exclude is not None:
        lines.append(f"exclude: [{exclude}]")
    lines += ["remaining:", "  groups:", *(f"    - {group}" for group in groups)]
    lines += ["delivery:", "  schedule: recurring", "  cadence: daily", "  start: 2026-12-01 09:00"]
    if end is not None:
        lines.append(f"  end: {end}")
    lines.append("  timezone: UTC")
    return "\n" + "\n".join(lines) + "\n"


NAME = "Daily Digest"
LIST = "Daily_Digest_Listed"
CAMPAIGN = daily_campaign(
    NAME,
    "{name: Listed, percent: 90, destinations: [klaviyo]}",
    "{name: Held, percent: 10, control: true}",
    end=None,
)


def klaviyo_table(
    server: SandboxServer,
    *,
    api_key_env: str = KEY_ENV,
    api_key_file: Path | None = None,
    poll_interval: float | None = 0.05,
) -> str:
    """The body of a ``[destinations.NAME]`` table of a Klaviyo destination at ``server``,
    its key read from ``api_key_file`` when given, else from the variable ``api_key_env``."""
    key = f'api_key_file = "{api_key_file}"' if api_key_file else f'api_key_env = "{api_key_env}"'
    text = f'type = "klaviyo_api"\n{key}\nbase_url = "{server.url}"\n'
    return text if poll_interval is None else text + f"poll_interval = {poll_interval}\n"


def init_workspace(
    tmp_path: Path,
    demo_db: Path,
    destinations: Mapping[str, str],
    *,
    state_url: str | None = None,
) -> Path:
    """A new workspace over a copy of the demo database, with ``destinations`` (name to
    table body) in its config and its state at ``state_url`` when given; nothing applied."""
    database = workspace_database(tmp_path / "ws")
    shutil.copyfile(demo_db, database)
    root = tmp_path / "ws"
    Workspace.init(root, database=str(database)).close()
    config = root / "herald.toml"
    text = config.read_text(encoding="utf-8")
    if state_url is not None:
        text = text.replace('url = "sqlite:///.herald/state.db"', f'url = "{state_url}"')
        StateStore.open(state_url, create=True).close()  # as `herald init` would
    for name, table in destinations.items():
        text += f"\n[destinations.{name}]\n{table}"
    config.write_text(text, encoding="utf-8")
    return root


def apply_campaign(root: Path, campaign_yaml: str) -> None:
    """Apply the example segments and the campaign (written to ``campaign.yaml``)."""
    (root / "campaign.yaml").write_text(campaign_yaml, encoding="utf-8")
    with Workspace.open(root) as ws:
        apply_path(ws, examples_dir() / "segments")
        apply_path(ws, root / "campaign.yaml")


def make_workspace(
    tmp_path: Path,
    demo_db: Path,
    campaign_yaml: str,
    destinations: Mapping[str, str],
    *,
    state_url: str | None = None,
) -> Path:
    """`init_workspace`, then `apply_campaign`: a workspace ready to run the campaign."""
    root = init_workspace(tmp_path, demo_db, destinations, state_url=state_url)
    apply_campaign(root, campaign_yaml)
    return root


def daily_workspace(
    tmp_path: Path, demo_db: Path, sandbox: SandboxServer, *, state_url: str | None = None
) -> Path:
    """A workspace whose daily campaign `NAME` (applied, not scheduled) sends its ``Listed``
    group to the list `LIST` of destination ``klaviyo`` at ``sandbox``."""
    tables = {"klaviyo": klaviyo_table(sandbox)}
    return make_workspace(tmp_path, demo_db, CAMPAIGN, tables, state_url=state_url)


def workspace_database(root: Path) -> Path:
    """The copy of the demo database the workspace at ``root`` reads."""
    return root.parent / "customers.duckdb"


def herald_env(
    root: Path, *, crash_at: str | None = None, key_env: str = KEY_ENV, key: str = DEFAULT_API_KEY
) -> dict[str, str]:
    """This process's environment with the workspace, the Klaviyo key in ``key_env`` and
    Herald's crash hook set only when ``crash_at`` is given."""
    env = {**os.environ, key_env: key, "HERALD_WORKSPACE": str(root)}
    env.pop("HERALD_CRASH_AT", None)
    if crash_at:
        env["HERALD_CRASH_AT"] = crash_at
    return env


def herald(
    root: Path, *args: str, crash_at: str | None = None, key_env: str = KEY_ENV
) -> subprocess.CompletedProcess[str]:
    """``herald ARGS`` run to its end (at most 240 s), its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "herald", *args],
        env=herald_env(root, crash_at=crash_at, key_env=key_env),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def start_herald(
    root: Path, *args: str, crash_at: str | None = None, key: str = DEFAULT_API_KEY
) -> subprocess.Popen[str]:
    """``herald ARGS`` in a process group of its own (so a test can kill it with its workers)."""
    return subprocess.Popen(
        [sys.executable, "-m", "herald", *args],
        env=herald_env(root, crash_at=crash_at, key=key),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def list_members(
    server: SandboxServer, list_name: str, *, may_be_missing: bool = False
) -> set[str]:
    """The emails (lower case) on the sandbox's list ``list_name``, which must exist once;
    with ``may_be_missing``, those on every list of that name (none when there is none)."""
    state = server.state
    found = [k for k in state.lists() if k.name == list_name]
    if not may_be_missing:
        assert len(found) == 1, f"{len(found)} lists named {list_name}"
    return {state.profile(p).email.lower() for k in found for p in state.list_members(k.id)}


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
