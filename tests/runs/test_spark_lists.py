"""Klaviyo lists prepared and diffed by Spark give the very files DuckDB gives (issue 15).

The same recurring campaign (two list groups contending for shared emails, and a control)
runs on a DuckDB workspace and on its Spark twin, each delivering to a sandbox of its own:
once, then again after its split and its data changed (new names: updates; new emails:
identity changes; moved customers: adds and removes). Every file the delivery loop reads
(adds, updates, removes, skipped) must be the same on both, row for row, and so must the
lists. On Spark no ``desired.parquet`` reaches this machine: the records stay in Spark's work
folder until the run ends. A Spark run killed after staging resumes to the same lists.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from sandbox_workspace import (
    KEY_ENV,
    daily_campaign,
    herald,
    klaviyo_table,
    list_members,
    make_workspace,
    workspace_database,
)
from spark_engine import lake_of, spark_twin

from herald.apply import apply_path
from herald.runs.pipeline import run_campaign
from herald.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxServer
from herald.workspace import Workspace

pytestmark = [pytest.mark.spark, pytest.mark.slow]

NAME = "Spark Lists"
LISTS = ("Spark_Lists_First", "Spark_Lists_Second")


# Values of every kind a profile holds: a normalized email and phone, an id sent as text, a
# name, and a date (a custom property).
ATTRIBUTES = (
    "[email, {amperity_id: external_id}, {given_name: first_name}, {phone: phone_number}, "
    "{birthdate: birthday}]"
)


def _campaign(first: int, second: int) -> str:
    to = f"destinations: [{{destination: klaviyo, attributes: {ATTRIBUTES}}}]"
    return daily_campaign(
        NAME,
        f"{{name: First, percent: {first}, {to}}}",
        f"{{name: Second, percent: {second}, {to}}}",
        f"{{name: Held, percent: {100 - first - second}, control: true}}",
    )


@pytest.fixture
def servers() -> dict[str, SandboxServer]:
    config = {"limits": "off", "job_tick": 0.01}
    with (
        SandboxServer(SandboxConfig(**config)) as duck,
        SandboxServer(SandboxConfig(**config)) as spark,
    ):
        yield {"duckdb": duck, "spark": spark}


@pytest.fixture
def roots(
    tmp_path: Path,
    demo_db: Path,
    servers: dict[str, SandboxServer],
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Path]:
    """The DuckDB workspace and its Spark twin, each delivering to its own sandbox."""
    monkeypatch.setenv(KEY_ENV, DEFAULT_API_KEY)
    duck = servers["duckdb"]
    root = make_workspace(tmp_path, demo_db, _campaign(45, 45), {"klaviyo": klaviyo_table(duck)})
    twin = spark_twin(root, workspace_database(root))
    config = twin / "herald.toml"
    config.write_text(config.read_text().replace(duck.url, servers["spark"].url))
    return {"duckdb": root, "spark": twin}


def _run(root: Path, day: int | None, *, reconcile: bool = False) -> tuple[str, list[object]]:
    """Run the campaign on 2026-12-``day`` (None: today); its id, and what each delivery
    reported (records, drops, and the sync's figures but its timings)."""
    with Workspace.open(root) as ws:
        today = None if day is None else dt.date(2026, 12, day)
        result = run_campaign(ws, NAME, today=today, reconcile=reconcile)
    assert result.run is not None
    assert result.run.status == "delivered", result.run.error
    reported = [
        (d.output_name, d.status, d.records, d.drops, {k: v for k, v in (d.counts or {}).items()})
        for d in result.deliveries
    ]
    return result.run.id, reported


def _drift(server: SandboxServer) -> None:
    """Out of Herald's hands, on the first list: three members removed, two bounced, and two
    profiles Herald never added joined (the same, by email, on every sandbox)."""
    state = server.state
    [first] = [k for k in state.lists() if k.name == LISTS[0]]
    members = sorted(state.list_members(first.id), key=lambda p: state.profile(p).email)
    state.remove_members(first.id, members[:3])
    state.bounce(members[3:5])
    strangers = [state.create_profile({"email": f"stranger{i}@example.com"}) for i in range(2)]
    state.add_members(first.id, [p.id for p in strangers])


def _delivered(root: Path, run_id: str) -> dict[str, object]:
    """What the delivery loop read of each list: its diff files (removes without profile ids,
    which each sandbox gives its own), skipped customers, and planned counts."""
    found: dict[str, object] = {}
    for folder in sorted((root / ".herald" / "runs" / run_id / "deliveries").iterdir()):
        for name in ("adds", "updates", "removes", "skipped"):
            table = pq.read_table(folder / f"{name}.parquet")
            table = table.drop_columns([c for c in ("profile_id",) if c in table.column_names])
            rows = table.to_pylist()
            found[f"{folder.name}/{name}"] = (
                rows if name != "skipped" else sorted(rows, key=lambda r: (r["reason"], r["key"]))
            )
    return found


def _change(roots: dict[str, Path]) -> None:
    """A new split on both, and new data: renamed customers and changed emails."""
    for root in roots.values():
        (root / "campaign.yaml").write_text(_campaign(60, 30), encoding="utf-8")
        with Workspace.open(root) as ws:
            apply_path(ws, root / "campaign.yaml")
    database = workspace_database(roots["duckdb"])
    with duckdb.connect(str(database)) as con:
        con.execute(
            "UPDATE Merged_Customers SET given_name = given_name || 'a' WHERE amperity_id IN "
            "(SELECT amperity_id FROM Merged_Customers ORDER BY amperity_id LIMIT 300)"
        )
        con.execute(
            "UPDATE Merged_Customers SET email = 'renamed.' || email WHERE amperity_id IN "
            "(SELECT amperity_id FROM Merged_Customers ORDER BY amperity_id DESC LIMIT 200)"
        )
    shutil.rmtree(database.with_name(database.stem + "-lake"))
    lake_of(database)  # the twin's tables, exported again at the same places


def test_spark_diffs_give_duckdb_s_files_and_lists(
    roots: dict[str, Path], servers: dict[str, SandboxServer]
) -> None:
    for day in (1, 2, 3):
        if day == 2:
            _change(roots)
        if day == 3:
            for server in servers.values():
                _drift(server)
        done = {kind: _run(root, day, reconcile=day == 3) for kind, root in roots.items()}
        runs = {kind: run_id for kind, (run_id, _) in done.items()}
        assert done["spark"][1] == done["duckdb"][1], f"day {day}"
        files = {kind: _delivered(roots[kind], run) for kind, run in runs.items()}
        assert files["spark"] == files["duckdb"], f"day {day}"
        kinds = {name.split("/")[1] for name, rows in files["duckdb"].items() if rows}
        expected = {"adds", "updates", "removes", "skipped"} if day == 2 else {"adds", "skipped"}
        assert expected <= kinds, f"day {day}: the case does not exercise {expected - kinds}"
        if day == 3:
            [first] = [counts for name, *_, counts in done["duckdb"][1] if name == LISTS[0]]
            assert first["repairs"], first  # type: ignore[index]
            assert first["foreign"], first  # type: ignore[index]
        for name in LISTS:
            members = {k: list_members(s, name) for k, s in servers.items()}
            assert members["duckdb"], (day, name)
            assert members["spark"] == members["duckdb"], (day, name)
        spark_run = roots["spark"] / ".herald" / "runs" / runs["spark"]
        assert not list(spark_run.glob("deliveries/*/desired.parquet")), "the audience came here"
        assert len(list(spark_run.glob("deliveries/*/desired.engine.json"))) == len(LISTS)
        assert not (roots["spark"] / ".herald" / "spark" / "runs" / runs["spark"]).exists()


def test_a_spark_run_killed_after_staging_resumes_to_the_same_lists(
    roots: dict[str, Path], servers: dict[str, SandboxServer]
) -> None:
    _run(roots["duckdb"], None)
    killed = herald(roots["spark"], "campaign", "run", NAME, "--yes", crash_at="delivery_started:2")
    assert killed.returncode != 0, killed.stdout + killed.stderr
    assert list((roots["spark"] / ".herald" / "spark" / "runs").iterdir()), "nothing kept"
    _run(roots["spark"], None)  # resumes the interrupted run first, then runs again
    for name in LISTS:
        members = {k: list_members(s, name) for k, s in servers.items()}
        assert members["duckdb"], name
        assert members["spark"] == members["duckdb"], name
