"""Parity of results, previews and validation (issue 15): delivered runs measured on both engines.

The runs are made once, on DuckDB, to the ``files`` destination (``tests/results_workspace.py``);
then the workspace is copied to its Spark twin (``tests/spark_engine.py``), which keeps the
runs, their recipients logs and every campaign's salt. Both engines must then give the same
campaign results and daily curves (counts and revenue to the cent, statistics to rounding),
the same preview (counts and minimum detectable effects), the same refusal of a bad definition
(the catalog, not the engine, checks it), and the same numbers through the command line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run
from results_workspace import AS_OF, NAME, results_workspace
from spark_engine import spark_twin

from herald.apply import apply_path
from herald.exceptions import DefinitionError, EngineError
from herald.runs.preview import preview_campaign
from herald.runs.results import campaign_results, daily_conversion, log_path, measured_runs
from herald.workspace import Workspace

pytestmark = [pytest.mark.spark, pytest.mark.slow]

BAD = Path(__file__).resolve().parents[1] / "fixtures" / "segments" / "bad"
TODAY = AS_OF.date()
LAUNCHES = ["2026-05-15", "2026-05-29"]
SECRET = "TOP-SECRET-LINE-5c1e"
EXTRA_SEGMENTS = """\
name: Good Active
status: active
where:
  - attribute: Customer_360.state
    op: is exactly
    value: CA
---
name: Draft Only
status: draft
where:
  - attribute: Customer_Attributes.is_opted_into_email
    op: is true
---
name: Finer Than Cents
status: active
where:
  - attribute: Transaction_Attributes_Extended.lifetime_order_revenue
    op: greater than
    value: 1000.005
"""
"""The two segments the bad-definition corpus refers to, and a comparison of a DECIMAL(38,2)
column with a value finer than its scale (rewritten at the column's scale, not refused)."""
PREVIEWED = """\
kind: campaign
name: Preview Parity
include: [Email Opted In]
sub_audiences:
  - name: Lapsed
    segment: Lapsed VIPs
    groups:
      - {name: Win Back, percent: 85, destinations: [files]}
      - {name: Lapsed Control, percent: 15, control: true}
  - name: Finer
    segment: Finer Than Cents
    groups:
      - {name: Thanks, percent: 50, destinations: [files]}
      - {name: Finer Control, percent: 50, control: true}
remaining:
  groups:
    - {name: Rest, percent: 100, destinations: [files]}
"""


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> tuple[Path, Path]:
    """The DuckDB workspace with two delivered runs, and its Spark twin copied after them."""
    folder = tmp_path_factory.mktemp("results-parity")
    root, runs = results_workspace(folder, demo_db, LAUNCHES)
    assert len(runs) == 2
    (folder / "extra.yaml").write_text(EXTRA_SEGMENTS, encoding="utf-8")
    (folder / "previewed.yaml").write_text(PREVIEWED, encoding="utf-8")
    with Workspace.open(root) as ws:
        apply_path(ws, folder / "extra.yaml")
        apply_path(ws, folder / "previewed.yaml")
    return root, spark_twin(root, demo_db)


@pytest.fixture(scope="module")
def twins(roots: tuple[Path, Path]) -> Iterator[tuple[Workspace, Workspace]]:
    with Workspace.open(roots[0]) as duck, Workspace.open(roots[1]) as spark:
        assert (duck.engine.name, spark.engine.name) == ("duckdb", "spark")
        yield duck, spark


def same(got: Any, want: Any, where: str = "") -> None:
    """Equal, floats within 1e-12 relative (a sum of doubles may be added in another order);
    a Decimal equal with the same exponent (to the cent, written the same)."""
    if dataclasses.is_dataclass(want) and not isinstance(want, type):
        assert type(got) is type(want), where
        for f in dataclasses.fields(want):
            same(getattr(got, f.name), getattr(want, f.name), f"{where}.{f.name}")
    elif isinstance(want, list | tuple):
        assert type(got) is type(want), where
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            same(g, w, f"{where}[{i}]")
    elif isinstance(want, dict):
        assert got.keys() == want.keys(), where
        for key in want:
            same(got[key], want[key], f"{where}[{key!r}]")
    elif isinstance(want, float) and not isinstance(got, bool):
        assert isinstance(got, float), (where, got)
        assert math.isclose(got, want, rel_tol=1e-12, abs_tol=0.0) or got == want, (
            where,
            got,
            want,
        )
    elif isinstance(want, Decimal):
        assert isinstance(got, Decimal), (where, got)
        assert (got, got.as_tuple().exponent) == (want, want.as_tuple().exponent), where
    else:
        assert (type(got), got) == (type(want), want), where


# --- 1. campaign results and daily curves ---------------------------------------------------


def test_the_twin_measures_the_same_runs_from_its_own_copy_of_the_logs(
    twins: tuple[Workspace, Workspace],
) -> None:
    """Results find a run's log under the workspace's runs folder, so the copy reads its own;
    the state's ``Run.snapshot`` still names the original's file (absolute), but is only a
    record: nothing reads it."""
    duck, spark = twins
    ids = [r.id for r in measured_runs(duck, NAME)]
    assert len(ids) == 2
    assert [r.id for r in measured_runs(spark, NAME)] == ids
    for run_id in ids:
        assert log_path(spark, run_id).is_relative_to(spark.root)
        assert log_path(spark, run_id).read_bytes() == log_path(duck, run_id).read_bytes()


@pytest.mark.parametrize(
    ("window", "as_of"),
    [
        (30, AS_OF),
        (14, AS_OF),
        (30, dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)),  # before the window ends
    ],
    ids=["30d", "2w", "not-over"],
)
def test_campaign_results_are_identical(
    twins: tuple[Workspace, Workspace], window: int, as_of: dt.datetime
) -> None:
    duck, spark = twins
    want = campaign_results(duck, NAME, window_days=window, as_of=as_of)
    assert len(want.sections) == 3  # pooled, then each run
    groups = [g for s in want.sections for g in s.groups]
    assert sum(g.sums.purchasers for g in groups) > 0
    assert sum(g.revenue_total for g in groups) > 0
    assert any(g.lift is not None for g in groups)
    same(campaign_results(spark, NAME, window_days=window, as_of=as_of), want)


def test_daily_conversion_is_identical(twins: tuple[Workspace, Workspace]) -> None:
    duck, spark = twins
    for as_of in (AS_OF, dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)):
        want = daily_conversion(duck, NAME, as_of=as_of)
        assert any(p for s in want for g in s.groups for p in g.purchasers)
        assert daily_conversion(spark, NAME, as_of=as_of) == want


# --- 2. the preview -------------------------------------------------------------------------


@pytest.mark.parametrize("campaign", [NAME, "Preview Parity"])
def test_preview_counts_and_power_are_identical(
    twins: tuple[Workspace, Workspace], campaign: str
) -> None:
    duck, spark = twins
    want = preview_campaign(duck, campaign, today=TODAY)
    got = preview_campaign(spark, campaign, today=TODAY)
    assert sum(c.recipients for c in want.counts) > 0
    assert any(p.mde is not None for p in want.power)
    same(got.counts, want.counts)
    same(got.deliveries, want.deliveries)
    same(got.power, want.power)
    assert got.warnings == want.warnings


# --- 3. validation messages -----------------------------------------------------------------

CATALOG_CHECKED = sorted(p for p in BAD.glob("*.yaml") if not p.stem.startswith("sql-"))


def refusal(ws: Workspace, path: Path) -> str:
    with pytest.raises(DefinitionError) as caught:
        apply_path(ws, path)
    return str(caught.value)


def test_the_catalogs_are_identical(twins: tuple[Workspace, Workspace]) -> None:
    """Validation reads the catalog: the same tables, columns and types in DuckDB's words."""
    duck, spark = twins
    assert spark.catalog == duck.catalog


def test_every_bad_definition_is_refused_with_the_same_line(
    twins: tuple[Workspace, Workspace],
) -> None:
    duck, spark = twins
    stems = {p.stem for p in CATALOG_CHECKED}
    assert {  # the catalog's checks: names, operators by type, values by type
        "unknown-table",
        "unknown-column",
        "operator-wrong-type",
        "text-for-number",
        "number-for-text",
        "fraction-for-integer",
        "datetime-for-date",
    } <= stems
    for path in CATALOG_CHECKED:
        assert refusal(spark, path) == refusal(duck, path), path.name


def test_bad_sql_segments_are_refused_alike(twins: tuple[Workspace, Workspace]) -> None:
    """The SQL checks before the engine give the same line; binding (the engine's) an unknown
    column is refused by both, each naming the column."""
    duck, spark = twins
    for path in sorted(BAD.glob("sql-*.yaml")):
        want, got = refusal(duck, path), refusal(spark, path)
        if path.stem == "sql-unknown-column":
            assert "emial" in want
            assert "emial" in got
        else:
            assert got == want, path.name


def file_reads(secret: Path) -> tuple[list[str], list[str]]:
    """SQL segments reading a file: in DuckDB's words, which both dialects read alike, and in
    Spark's (backquotes), which DuckDB's dialect does not parse."""
    both = [
        f"SELECT amperity_id FROM read_csv('{secret}')",
        f"SELECT amperity_id FROM read_text('{secret}')",
        f"SELECT amperity_id FROM '{secret}'",
        f'SELECT amperity_id FROM "{secret}"',
    ]
    return both, [
        f"SELECT amperity_id FROM parquet.`{secret}`",
        f"SELECT amperity_id FROM csv.`{secret}`",
        f"SELECT amperity_id FROM text.`{secret}`",
        f"SELECT amperity_id FROM json.`{secret}`",
        "SELECT amperity_id FROM Customer_360 WHERE amperity_id IN "
        f"(SELECT value FROM text.`{secret}`)",
        "SELECT amperity_id FROM parquet.`/etc/hosts`",
    ]


def test_a_sql_segment_reading_a_file_is_refused_on_both(
    twins: tuple[Workspace, Workspace], tmp_path: Path
) -> None:
    duck, spark = twins
    secret = tmp_path / "secret.csv"
    secret.write_text(f"amperity_id,value\n{SECRET},{SECRET}\n", encoding="utf-8")
    hosts = [line for line in Path("/etc/hosts").read_text().splitlines() if line.strip()]
    both, spark_only = file_reads(secret)
    for i, sql in enumerate([*both, *spark_only]):
        path = tmp_path / f"reads-{i}.yaml"
        path.write_text(f"name: Reads {i}\nstatus: active\nsql: |\n  {sql}\n", encoding="utf-8")
        for ws in (duck, spark):
            message = refusal(ws, path)
            assert SECRET not in message, (ws.engine.name, sql, message)
            assert not any(line in message for line in hosts), (ws.engine.name, sql, message)
            assert "\n" not in message.strip(), message
        if sql in both:
            assert refusal(spark, path) == refusal(duck, path), sql


def test_a_failed_cast_is_refused_on_both_without_the_value(
    twins: tuple[Workspace, Workspace], tmp_path: Path
) -> None:
    """A SQL segment that binds but fails on a customer's value: each engine's error, with the
    value left out (an email here)."""
    path = tmp_path / "cast.yaml"
    sql = "SELECT amperity_id FROM Customer_360 WHERE CAST(email AS INTEGER) = 1"
    path.write_text(f"name: Cast Email\nstatus: active\nsql: {sql}\n", encoding="utf-8")
    for ws in twins:
        apply_path(ws, path)
        with pytest.raises(EngineError) as caught:
            ws.segments.insights("Cast Email", record=False, today=TODAY)
        message = str(caught.value)
        assert "Cast Email" in message
        assert "@" not in message, message


# --- 4. the command line on both ------------------------------------------------------------


def cli(root: Path, *args: str) -> str:
    result = run(*args, "-w", str(root))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("segment", ["High Value", "Finer Than Cents", "Repeat Buyers (SQL)"])
def test_segment_insights_on_the_command_line(roots: tuple[Path, Path], segment: str) -> None:
    duck, spark = roots
    args = ("segment", "insights", segment, "--as-of", TODAY.isoformat())
    want = cli(duck, *args, "--json")
    assert json.loads(want)["unique_customers"] > 0
    assert cli(spark, *args, "--json") == want
    assert cli(spark, *args) == cli(duck, *args)


@pytest.mark.parametrize("campaign", [NAME, "Preview Parity"])
def test_campaign_preview_on_the_command_line(roots: tuple[Path, Path], campaign: str) -> None:
    duck, spark = roots
    want = cli(duck, "campaign", "preview", campaign, "--json")
    assert sum(c["recipients"] for c in json.loads(want)["counts"]) > 0
    assert cli(spark, "campaign", "preview", campaign, "--json") == want
    assert cli(spark, "campaign", "preview", campaign) == cli(duck, "campaign", "preview", campaign)
