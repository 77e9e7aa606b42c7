"""After ``herald demo``, the commands it suggests work in the workspace it leaves.

The demo's Klaviyo destination is a sandbox on a fixed port whose account (profiles, lists,
members) is kept in ``.herald/sandbox/klaviyo.json``; started again with the command the demo
prints, it holds the lists the workspace's ledgers describe. Without it, a Klaviyo command
says in one line, at once, how to start it. One group also goes by SFTP, to an SFTP sandbox
that imports it into the Klaviyo sandbox's list of its own, started again the same way.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest
from cli_helpers import as_json, ok, run
from ports import free_port

from herald.demo.effect import clear_effect

CAMPAIGN = "Spring Reactivation"
BOTH_ROADS = "VIP Early Access"
SFTP_LIST = "SFTP import (herald demo)"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """A demo workspace (1,500 customers), its sandbox port and the demo's output."""
    root = tmp_path_factory.mktemp("demo") / "herald-demo"
    port = free_port()
    out = ok("demo", "--dir", str(root), "--customers", "1500", "--sandbox-port", str(port))
    return root, port, out


@pytest.fixture
def in_demo(demo: tuple[Path, int, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(demo[0])
    monkeypatch.delenv("HERALD_WORKSPACE", raising=False)
    return demo[0]


def suggested_sandbox_command(out: str) -> list[str]:
    found = re.search(r"(herald sandbox klaviyo [^\n]*?\.json)", " ".join(out.split()))
    assert found, out
    return shlex.split(found.group(1))


def ledger_members(root: Path) -> dict[str, int]:
    """Members per list id, as the workspace's ledgers say."""
    counts: dict[str, int] = {}
    for ledger in (root / ".herald" / "lists" / "klaviyo").glob("*.parquet"):
        with duckdb.connect() as con:
            query = f"SELECT count(*) FROM read_parquet('{ledger}') WHERE status = 'member'"
            counts[ledger.stem] = con.execute(query).fetchone()[0]  # type: ignore[index]
    return counts


@pytest.fixture
def sandbox(demo: tuple[Path, int, str], in_demo: Path) -> Iterator[str]:
    """The sandbox, started exactly as the demo says, as its own process; stopped by Ctrl-C."""
    root, port, out = demo
    command = suggested_sandbox_command(out)
    assert command[:3] == ["herald", "sandbox", "klaviyo"]
    assert command[command.index("--port") + 1] == str(port)
    herald = [sys.executable, "-m", "herald", *command[1:], "--log-level", "warning"]
    process = subprocess.Popen(herald, cwd=root, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/__sandbox__/state", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        process.stderr.close()  # type: ignore[union-attr]


def test_the_demo_points_at_a_port_the_sandbox_command_serves(
    demo: tuple[Path, int, str],
) -> None:
    root, port, out = demo
    config = (root / "herald.toml").read_text()
    assert f'base_url = "http://127.0.0.1:{port}"' in config
    assert "api_key_env" not in config.split("\n[destinations.klaviyo]")[1]
    state = json.loads((root / ".herald" / "sandbox" / "klaviyo.json").read_bytes())
    # The campaign's three, the group sent by both roads, and the SFTP import's own.
    assert len(state["lists"]) == 5
    assert suggested_sandbox_command(out)[3:] == [
        "--port",
        str(port),
        "--state",
        ".herald/sandbox/klaviyo.json",
    ]


def test_the_demo_leaves_its_campaign_scheduled_daily_with_its_next_runs(
    demo: tuple[Path, int, str], in_demo: Path
) -> None:
    out = demo[2]
    shown = as_json("campaign", "show", CAMPAIGN)

    assert shown["status"] == "scheduled"
    assert shown["definition"]["delivery"]["cadence"] == "daily"
    runs = [dt.datetime.fromisoformat(r) for r in shown["schedule"]["next_runs"]]
    assert len(runs) == 5
    assert [b - a for a, b in itertools.pairwise(runs)] == [dt.timedelta(days=1)] * 4
    assert f"Scheduled '{CAMPAIGN}'" in out
    assert " ".join(out.split()).count("09:00 America/Los_Angeles") == 5
    assert "`herald web` to open the workspace in the browser" in " ".join(out.split())


@pytest.mark.parametrize(
    "command",
    [
        ["segment", "list"],
        ["campaign", "estimate", CAMPAIGN],
        ["campaign", "recipients", CAMPAIGN],
        ["runs", "list"],
    ],
)
def test_the_suggested_commands_work_without_the_sandbox(in_demo: Path, command: list[str]) -> None:
    ok(*command)


def test_without_the_sandbox_klaviyo_commands_say_at_once_how_to_start_it(
    demo: tuple[Path, int, str], in_demo: Path
) -> None:
    started = time.monotonic()
    result = run("destination", "check", "klaviyo")
    elapsed = time.monotonic() - started

    assert result.exit_code == 1
    assert f"start the Klaviyo sandbox with `herald sandbox klaviyo --port {demo[1]}`" in (
        result.output
    )
    assert result.output.count("\n") == 1, result.output
    assert elapsed < 5  # no retrying for max_wait: nothing listens on this machine's port


def test_the_restarted_sandbox_holds_the_demos_lists_and_runs_continue(
    demo: tuple[Path, int, str], sandbox: str
) -> None:
    root = demo[0]
    every = httpx.get(f"{sandbox}/__sandbox__/lists").json()
    lists = {k["id"]: k for k in every if k["name"] != SFTP_LIST}  # no ledger: SFTP's own
    assert {k: v["members"] for k, v in lists.items()} == ledger_members(root)

    assert "every needed scope" in ok("destination", "check", "klaviyo")
    out = ok("campaign", "run", CAMPAIGN, "--yes")
    assert out.count("synced") == 3, out

    after = {
        k["id"]: k["members"]
        for k in httpx.get(f"{sandbox}/__sandbox__/lists").json()
        if k["name"] != SFTP_LIST
    }
    assert set(after) == set(lists)  # the same lists, not new ones
    assert after == ledger_members(root)


def sftp_profiles(root: Path) -> Path:
    return root / ".herald" / "sandbox" / "sftp" / "root" / "profiles"


def uploaded(root: Path) -> tuple[list[dict[str, str]], dict[str, object]]:
    """The rows of the file the demo uploaded by SFTP, and the SFTP sandbox's import result."""
    [sent] = sftp_profiles(root).glob("VIP_Early_Access_Both_Roads_*.csv")
    with sent.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return rows, json.loads(sent.with_name(f"{sent.name}.result.json").read_bytes())


def test_the_demos_sftp_group_is_imported_into_the_klaviyo_sandbox(
    demo: tuple[Path, int, str],
) -> None:
    root = demo[0]
    rows, result = uploaded(root)
    assert rows
    assert result["status"] == "imported"
    assert result["imported"] == len(rows)
    assert result["rejected"] == []

    state = json.loads((root / ".herald" / "sandbox" / "klaviyo.json").read_bytes())
    [imports] = [k for k in state["lists"] if k["name"] == SFTP_LIST]
    assert result["list_id"] == imports["id"]
    external_ids = {p[0]: p[5] for p in state["profiles"]}
    members = {external_ids[profile_id] for profile_id, _ in imports["members"]}
    assert members == {row["ExternalID"] for row in rows}


def test_the_demo_shows_the_api_and_sftp_times_side_by_side(demo: tuple[Path, int, str]) -> None:
    root, _, out = demo
    rows, _ = uploaded(root)
    text = " ".join(out.split())
    assert "Both roads to Klaviyo, measured" in text
    found = re.search(
        r"│ Both Roads │ ([\d,]+) │ (\d+\.\d) s │ ([\d,]+) │ (\d+\.\d) s "
        r"\(upload (\d+\.\d) \+ import (\d+\.\d)\) │",
        text,
    )
    assert found, out
    api_profiles, api_time, sftp_profiles, sftp_time, upload, importing = found.groups()
    assert int(sftp_profiles.replace(",", "")) == len(rows)
    assert 0 < int(api_profiles.replace(",", "")) <= len(rows)  # the API needs an email
    assert float(api_time) > 0
    assert float(sftp_time) > 0
    assert abs(float(sftp_time) - float(upload) - float(importing)) <= 0.11  # rounding


def test_the_demo_measures_the_uplift_it_simulated(
    demo: tuple[Path, int, str], in_demo: Path
) -> None:
    """Step 9: the measured lift beside the simulated +15 %, the simulated orders removed
    afterwards; the same simulation made again by `herald demo generate --effect-campaign`
    (same seed) gives the same lift."""
    text = " ".join(demo[2].split())
    assert "Measured lift beside the simulated uplift" in text
    added = re.search(r"Simulated a \+15% uplift .*?: ([\d,]+) orders;", text)
    assert added, text
    database = in_demo / "data" / "customers.duckdb"
    assert simulated_orders(database) == 0  # removed: later runs' segments must not see them
    shown = re.findall(
        r"│ Shoe Lovers │ (Shoes [\w ]+?) │ [\d,]+ │ [\d.]+% │ [\d.]+% │ ([+-][\d.]+)% │", text
    )
    assert len(shown) == 2, text
    assert text.count("│ +15% │") == len(shown) + 1  # the VIPs' group too
    again = ok("demo", "generate", "--effect-campaign", CAMPAIGN, "--seed", "42")
    try:
        assert simulated_orders(database) == int(added.group(1).replace(",", ""))
        as_of = re.search(r"--as-of ([\d-]+)", again)
        assert as_of, again
        results = as_json("campaign", "results", CAMPAIGN, "--as-of", as_of.group(1))
    finally:
        clear_effect(database)
    lifts = {g["group"]: g["lift"] for g in results["sections"][0]["groups"] if g["lift"]}
    for group, value in shown:
        measured = lifts[group]["conversion_relative"]["value"] * 100
        assert measured == pytest.approx(float(value), abs=0.051)


def simulated_orders(database: Path) -> int:
    with duckdb.connect(str(database), read_only=True) as con:
        [(orders,)] = con.execute(
            "SELECT count(*) FROM Unified_Transactions WHERE order_id LIKE 'SIM-%'"
        ).fetchall()
    return int(orders)


def suggested_sftp_command(out: str) -> list[str]:
    found = re.search(r"(herald sandbox sftp [^\n]*?--list-id \w+)", " ".join(out.split()))
    assert found, out
    return shlex.split(found.group(1))


def test_the_restarted_sftp_sandbox_imports_the_workspaces_uploads(
    demo: tuple[Path, int, str], sandbox: str
) -> None:
    root, port, out = demo
    command = suggested_sftp_command(out)
    assert command[command.index("--klaviyo-url") + 1] == f"http://127.0.0.1:{port}"
    sftp_port = int(command[command.index("--port") + 1])
    assert f"port = {sftp_port}" in (root / "herald.toml").read_text()
    herald = [sys.executable, "-m", "herald", *command[1:]]
    # Its log goes to a file: a pipe nobody reads until the end fills up and blocks the
    # sandbox's next log line (and with it the sandbox).
    log = root / "sftp-sandbox.log"
    with log.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(herald, cwd=root, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", sftp_port), timeout=2).close()
                break
            except OSError:
                assert process.poll() is None, log.read_text(encoding="utf-8")
                assert time.monotonic() < deadline, "the SFTP sandbox did not start"
                time.sleep(0.2)
        assert "verified; /profiles is writable" in ok("destination", "check", "klaviyo_sftp")
        before = uploaded(root)[1]["jobs"]
        ok("campaign", "run", BOTH_ROADS, "--yes")
        deadline = time.monotonic() + 60
        while uploaded(root)[1]["jobs"] == before:  # the file sent again, imported again
            assert time.monotonic() < deadline, "the upload was not imported"
            time.sleep(0.2)
    finally:
        # SIGTERM, which it handles itself: a process started in the background of a
        # non-interactive shell (a CI job) inherits SIGINT ignored, and Ctrl-C never reaches it.
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    rows, result = uploaded(root)
    assert result["status"] == "imported"
    assert result["imported"] == len(rows)
    lists = httpx.get(f"{sandbox}/__sandbox__/lists").json()
    assert [k["members"] for k in lists if k["name"] == SFTP_LIST] == [len(rows)]


def test_an_unreadable_sandbox_state_stops_the_demo_in_one_line(tmp_path: Path) -> None:
    root = tmp_path / "herald-demo"
    state = root / ".herald" / "sandbox" / "klaviyo.json"
    state.parent.mkdir(parents=True)
    state.write_text("not a sandbox state")

    result = run("demo", "--dir", str(root), "--customers", "200", "--sandbox-port", "0")

    assert result.exit_code == 1
    assert "cannot read the sandbox state" in result.output
    assert result.output.count("\n") == 1, result.output
    assert state.read_text() == "not a sandbox state"  # not overwritten
    assert not (root / "data").exists()  # stopped before generating anything


def test_a_taken_port_moves_the_demo_sandbox_and_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = ok(
            "demo", "--dir", str(tmp_path / "d"), "--customers", "300", "--sandbox-port", str(port)
        )
    assert f"Port {port} is taken" in out
    used = re.search(r"--port (\d+) --state", " ".join(out.split()))
    assert used
    assert used.group(1) != str(port)
    assert f"127.0.0.1:{used.group(1)}" in (tmp_path / "d" / "herald.toml").read_text()


def test_a_demo_run_that_ends_in_error_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run is real; only its recorded outcome is turned into a failed delivery's, so the
    # test shows what the demo does with it: the same exit as `herald campaign run`.
    import dataclasses

    import herald.cli.demo as demo_cli

    real = demo_cli.run_campaign

    def failing(*args: object, **kwargs: object) -> object:
        result = real(*args, **kwargs)
        run = dataclasses.replace(result.run, status="error", error="a delivery failed")
        return dataclasses.replace(result, run=run)

    monkeypatch.setattr(demo_cli, "run_campaign", failing)
    root = tmp_path / "d"
    result = run("demo", "--dir", str(root), "--customers", "300", "--sandbox-port", "0")
    assert result.exit_code == 1, result.output
    assert "ended in error" in result.stderr
