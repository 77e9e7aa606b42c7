"""The destination conformance suite: the same tests against every registered destination type.

Each type gets a workspace whose destination ``dest`` is of that type, a campaign whose
``Sent`` group goes there (with a control group beside it), and a harness that knows how to
reach it and read back what it holds: a folder of CSV files, or a Klaviyo sandbox over
loopback HTTP. Then, through the protocol of ``herald.destinations.base`` as a run uses it:

- **check**: a working destination passes, a broken one fails with a reason;
- **sample**: what a group would receive, written to a file, nothing sent;
- **deliver**: the run ends delivered and the destination holds exactly the group's valid
  emails (computed here, independently, with email-validator);
- **outcomes**: one per profile sent or skipped, matching the delivery's records;
- **crash**: ``kill -9`` in the middle of a delivery, then ``herald runs resume``: the run ends
  delivered and the destination holds exactly the group;
- **stop**: a run cancelled before its delivery sends nothing there and ends cancelled, and
  the next run delivers exactly; one killed in the middle of a delivery, then cancelled, keeps
  the work done before its last boundary whole (a file already in place, a confirmed batch).

Adding a destination type means adding its harness here and passing these tests.
"""

from __future__ import annotations

import asyncio
import csv
import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import duckdb
import pyarrow.parquet as pq
import pytest
from expected_members import expected_emails
from sandbox_workspace import daily_campaign, klaviyo_table, list_members, make_workspace
from sandbox_workspace import herald as run_herald
from sftp_server import OpenSshServer, fingerprint

from herald.destinations.base import OUTCOMES_FILE
from herald.destinations.registry import destination_class, destination_types
from herald.runs.cancel import cancel_run
from herald.runs.pipeline import run_campaign
from herald.runs.preview import sample_campaign
from herald.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxServer
from herald.state import Run
from herald.workspace import Workspace

NAME = "Conformance"
GROUP = "Sent"
OUTPUT = f"{NAME}_{GROUP}"
CAMPAIGN = daily_campaign(
    NAME,
    f"{{name: {GROUP}, percent: 90, destinations: [dest]}}",
    "{name: Held, percent: 10, control: true}",
)
KEY_ENV = "CONFORMANCE_API_KEY"


class Harness(Protocol):
    """How the suite reaches one destination type and reads back what it holds."""

    def table(self, root: Path) -> str:
        """The ``[destinations.dest]`` table of a working destination."""
        ...

    def broken_table(self, root: Path) -> str:
        """A table whose destination fails its check."""
        ...

    def held(self, root: Path) -> set[str]:
        """The emails (lower case) the destination holds for the group now."""
        ...

    def holds_nothing(self, root: Path) -> bool:
        """Whether nothing was delivered for the group (no file, no list or an empty one)."""
        ...

    def sample_records(self, path: Path) -> int:
        """How many records a sample file holds."""
        ...


class CsvHarness:
    def table(self, root: Path) -> str:
        return 'type = "csv_file"\nfolder = "out"\n'

    def broken_table(self, root: Path) -> str:
        (root / "not_a_folder").write_text("a file where the folder should be\n")
        return 'type = "csv_file"\nfolder = "not_a_folder/out"\n'

    def held(self, root: Path) -> set[str]:
        [path] = (root / "out").glob(f"{OUTPUT}*.csv")
        assert not list((root / "out").glob(".*")), "a partial file was left behind"
        with path.open(encoding="utf-8", newline="") as file:
            return {row["email"].lower() for row in csv.DictReader(file) if row["email"]}

    def holds_nothing(self, root: Path) -> bool:
        return not (root / "out").exists() or not any((root / "out").iterdir())

    def sample_records(self, path: Path) -> int:
        with path.open(encoding="utf-8", newline="") as file:
            return sum(1 for _ in csv.DictReader(file))


class KlaviyoHarness:
    def __init__(self, server: SandboxServer) -> None:
        self.server = server

    def table(self, root: Path) -> str:
        return klaviyo_table(self.server, api_key_env=KEY_ENV)

    def broken_table(self, root: Path) -> str:
        (root / "wrong.key").write_text("pk_wrong_key_0000000000000000000000\n")
        return klaviyo_table(self.server, api_key_file=root / "wrong.key", poll_interval=None)

    def held(self, root: Path) -> set[str]:
        return list_members(self.server, OUTPUT)

    def holds_nothing(self, root: Path) -> bool:
        state = self.server.state
        return all(not state.list_members(k.id) for k in state.lists() if k.name == OUTPUT)

    def sample_records(self, path: Path) -> int:
        lines = path.read_text(encoding="utf-8").splitlines()
        assert all("email" in json.loads(line) for line in lines)
        return len(lines)


class SftpHarness:
    """An SFTP type, delivering to a real OpenSSH server's folder (``tests/sftp_server.py``)."""

    def __init__(self, kind: str, server: OpenSshServer) -> None:
        self.kind = kind
        self.server = server
        self.folder = "/profiles"
        self.email = "Email" if kind == "klaviyo_sftp" else "email"

    def table(self, root: Path) -> str:
        settings = self.server.settings(folder=self.folder)
        return f'type = "{self.kind}"\n' + "".join(
            f"{key} = {json.dumps(value)}\n" for key, value in settings.items()
        )

    def broken_table(self, root: Path) -> str:
        # A host key the server does not have: refused, as a changed key must be.
        other = fingerprint(Path(f"{self.server.keys.other_host}.pub"))
        return self.table(root).replace(self.server.host_fingerprint(), other)

    def files(self) -> list[Path]:
        return sorted(self.server.path(self.folder).glob(f"{OUTPUT}*.csv"))

    def held(self, root: Path) -> set[str]:
        [path] = self.files()
        left = [p.name for p in self.server.path(self.folder).iterdir() if p.name.startswith(".")]
        assert not left, f"a partial file was left behind: {left}"
        with path.open(encoding="utf-8", newline="") as file:
            return {row[self.email].lower() for row in csv.DictReader(file) if row[self.email]}

    def holds_nothing(self, root: Path) -> bool:
        return not self.files()

    def sample_records(self, path: Path) -> int:
        with path.open(encoding="utf-8", newline="") as file:
            return sum(1 for _ in csv.DictReader(file))


@pytest.fixture(params=destination_types())
def harness(request: pytest.FixtureRequest) -> Iterator[tuple[str, Harness]]:
    kind = request.param
    if kind == "csv_file":
        yield kind, CsvHarness()
    elif kind in ("sftp", "klaviyo_sftp"):
        yield kind, SftpHarness(kind, request.getfixturevalue("sftp_server"))
    elif kind == "klaviyo_api":
        with SandboxServer(SandboxConfig(limits="off", job_tick=0.01)) as server:
            yield kind, KlaviyoHarness(server)
    else:
        pytest.fail(f"destination type {kind} has no harness in the conformance suite: add one")


@pytest.fixture
def workspace(
    tmp_path: Path, demo_db: Path, harness: tuple[str, Harness], monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.setenv(KEY_ENV, DEFAULT_API_KEY)
    table = harness[1].table(tmp_path / "ws")
    return make_workspace(tmp_path, demo_db, CAMPAIGN, {"dest": table})


def expected(root: Path, run_id: str) -> set[str]:
    return expected_emails(root, root.parent / "customers.duckdb", run_id, GROUP)


def group_keys(root: Path, run_id: str) -> set[str]:
    snapshot = root / ".herald" / "runs" / run_id / "recipients.parquet"
    with duckdb.connect() as con:
        rows = con.execute(
            f"SELECT amperity_id FROM read_parquet('{snapshot}') WHERE \"group\" = '{GROUP}'"
        ).fetchall()
    return {str(key) for (key,) in rows}


def outcomes(root: Path, run_id: str) -> dict[str, set[str]]:
    [folder] = (root / ".herald" / "runs" / run_id / "deliveries").iterdir()
    table = pq.read_table(folder / OUTCOMES_FILE).to_pylist()
    found: dict[str, set[str]] = {}
    for row in table:
        found.setdefault(row["outcome"], set()).add(row["key"])
    return found


def test_every_registered_type_has_a_harness() -> None:
    assert set(destination_types()) == {"csv_file", "klaviyo_api", "klaviyo_sftp", "sftp"}


def test_check(workspace: Path, harness: tuple[str, Harness]) -> None:
    with Workspace.open(workspace) as ws:
        found = asyncio.run(ws.destination("dest").check())
    assert found.ok, found
    assert found.target
    assert found.detail

    config = workspace / "herald.toml"
    text = config.read_text(encoding="utf-8")
    working = text[text.index("[destinations.dest]") :]
    config.write_text(
        text.replace(working, f"[destinations.dest]\n{harness[1].broken_table(workspace)}")
    )
    with Workspace.open(workspace) as ws:
        broken = asyncio.run(ws.destination("dest").check())
    assert not broken.ok
    assert broken.detail


def test_sample_writes_what_a_group_would_receive(
    workspace: Path, harness: tuple[str, Harness], tmp_path: Path
) -> None:
    kind, h = harness
    with Workspace.open(workspace) as ws:
        result = sample_campaign(ws, NAME, 5, tmp_path / "sample")
        assert ws.store.list_runs(NAME) == []  # nothing run, nothing sent
    [delivery] = result.deliveries
    assert delivery.path is not None
    assert delivery.path.suffix == destination_class(kind).capabilities.sample_suffix
    assert 0 < h.sample_records(delivery.path) <= 5


def test_deliver_holds_exactly_the_group_with_outcomes(
    workspace: Path, harness: tuple[str, Harness]
) -> None:
    _, h = harness
    with Workspace.open(workspace) as ws:
        result = run_campaign(ws, NAME)
    assert result.run is not None
    assert result.run.status == "delivered", result.run.error
    [delivery] = result.deliveries
    assert delivery.status in ("written", "synced")
    run_id = result.run.id

    assert h.held(workspace) == expected(workspace, run_id)
    found = outcomes(workspace, run_id)
    sent, skipped = found.get("sent", set()), found.get("skipped_invalid", set())
    assert len(sent) == delivery.records
    assert not sent & skipped
    # Every customer of the group has one outcome: sent, or skipped with its reason.
    assert sent | skipped == group_keys(workspace, run_id)


def herald(root: Path, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_herald(root, *args, crash_at=crash_at, key_env=KEY_ENV)


def killed_mid_delivery(root: Path) -> Run:
    """The run of ``herald campaign run`` killed (SIGKILL) in the middle of its delivery."""
    killed = herald(root, "campaign", "run", NAME, "--yes", crash_at="delivery_midway")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with Workspace.open(root) as ws:
        [run] = ws.store.list_runs(NAME)
    return run


@pytest.mark.slow
def test_a_kill_mid_delivery_then_resume_ends_exact(
    workspace: Path, harness: tuple[str, Harness]
) -> None:
    _, h = harness
    run = killed_mid_delivery(workspace)
    assert run.status == "running"

    resumed = herald(workspace, "runs", "resume", run.id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    with Workspace.open(workspace) as ws:
        [done] = ws.store.list_runs(NAME)
    assert done.status == "delivered"
    assert h.held(workspace) == expected(workspace, run.id)
    assert outcomes(workspace, run.id).get("sent")


def test_a_run_cancelled_before_its_delivery_sends_nothing_and_the_next_run_is_exact(
    workspace: Path, harness: tuple[str, Harness]
) -> None:
    _, h = harness
    with Workspace.open(workspace) as ws:
        build = ws.campaigns.build(NAME)
        run = ws.store.start_run(NAME, build.version, as_of=build.as_of, pins=build.pins)
        # No process works on the run, so the cancel stops it itself: the delivery is asked
        # to stop at its first boundary.
        done = cancel_run(ws, run.id)
        campaign = ws.store.campaign_status(NAME).status
    assert done.stopped_here
    assert done.run.status == "cancelled"
    assert done.result is not None
    [delivery] = done.result.deliveries
    assert delivery.status == "cancelled"
    assert delivery.message
    assert h.holds_nothing(workspace)
    assert campaign == "error"

    with Workspace.open(workspace) as ws:
        again = run_campaign(ws, NAME)
    assert again.run is not None
    assert again.run.status == "delivered", again.run.error
    assert h.held(workspace) == expected(workspace, again.run.id)


@pytest.mark.slow
def test_a_kill_mid_delivery_then_cancel_keeps_what_was_done_whole(
    workspace: Path, harness: tuple[str, Harness]
) -> None:
    _, h = harness
    run = killed_mid_delivery(workspace)

    cancelled = herald(workspace, "runs", "cancel", run.id)

    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert f"Stopped the interrupted run {run.id}" in cancelled.stdout
    with Workspace.open(workspace) as ws:
        [done] = ws.store.list_runs(NAME)
    # The one boundary was passed before the kill (the file is in place, the one batch
    # confirmed): that work is finished whole, so the run ends delivered.
    assert (done.status, done.cancel_requested) == ("delivered", True)
    assert h.held(workspace) == expected(workspace, run.id)
    assert outcomes(workspace, run.id).get("sent")
