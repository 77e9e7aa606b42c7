"""Parity of whole workspaces (issue 15): the same workspace on DuckDB and on Spark.

The Spark twin is a copy of the DuckDB workspace (settings and state, so every campaign keeps
its id and its salt) whose engine is Spark in local mode over the same tables exported to
Parquet (``tests/spark_engine.py``). Every example segment's insights, preview and waterfall,
a picklist, every campaign's recipients snapshot and the preview's power figures must be
identical on both; the snapshots row for row, including the 100,000-customer demo campaign
with sub-audiences and control groups.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from spark_engine import spark_twin

from herald.apply import apply_path
from herald.demo.examples import examples_dir
from herald.workspace import Workspace

pytestmark = [pytest.mark.spark, pytest.mark.slow]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "campaigns"
TODAY = dt.date(2026, 6, 30)  # the demo data's as-of date
AS_OF = dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)


def _twins(root: Path, database: Path) -> Iterator[tuple[Workspace, Workspace]]:
    with Workspace.open(root) as ws:
        apply_path(ws, examples_dir() / "campaigns")
        for path in sorted(FIXTURES.glob("*.yaml")):
            apply_path(ws, path)
    twin = spark_twin(root, database)
    with Workspace.open(root) as duck, Workspace.open(twin) as spark:
        assert (duck.engine.name, spark.engine.name) == ("duckdb", "spark")
        yield duck, spark


@pytest.fixture(scope="module")
def twins(
    tmp_path_factory: pytest.TempPathFactory, demo_db: Path, new_workspace: Any
) -> Iterator[tuple[Workspace, Workspace]]:
    root = new_workspace(tmp_path_factory.mktemp("parity") / "ws", demo_db)
    yield from _twins(root, demo_db)


def snapshot(ws: Workspace, campaign: str, folder: Path) -> tuple[list[str], list[Any]]:
    """The campaign's recipients snapshot built by the workspace's engine: its column names and
    its rows in key order."""
    build = ws.campaigns.build(campaign, as_of=AS_OF)
    path = folder / f"{campaign}-{ws.engine.name}.parquet"
    ws.campaigns.write_snapshot(build, path)
    table = pq.read_table(path)
    key = ws.catalog.customer_key
    rows = sorted(table.to_pylist(), key=lambda r: (r[key], r["sub_audience"], r["group"]))
    return table.column_names, rows


def _campaign_names(ws: Workspace) -> list[str]:
    return sorted(c.name for c in ws.campaigns.stored_campaigns())


def test_every_campaign_s_snapshot_is_identical_row_for_row(
    twins: tuple[Workspace, Workspace], tmp_path: Path
) -> None:
    duck, spark = twins
    names = _campaign_names(duck)
    assert len(names) >= 4, names
    for name in names:
        expected = snapshot(duck, name, tmp_path)
        assert expected[1], f"campaign {name} has no recipient: the comparison means nothing"
        assert snapshot(spark, name, tmp_path) == expected, name


def test_every_segment_s_insights_preview_and_waterfall_are_identical(
    twins: tuple[Workspace, Workspace],
) -> None:
    duck, spark = twins
    names = [s.name for s in duck.segments.list()]
    assert len(names) >= 7
    for name in names:
        want = duck.segments.insights(name, record=False, today=TODAY)
        assert spark.segments.insights(name, record=False, today=TODAY) == want, name
        rows = duck.segments.preview(name, limit=5, today=TODAY).to_pylist()
        assert spark.segments.preview(name, limit=5, today=TODAY).to_pylist() == rows, name
        segment = duck.segments.load(name)
        steps = duck.segments.waterfall(segment, today=TODAY)
        assert spark.segments.waterfall(segment, today=TODAY) == steps, name


def test_overlap_and_picklists_are_identical(twins: tuple[Workspace, Workspace]) -> None:
    duck, spark = twins
    names = ["High Value", "Email Opted In", "Lapsed VIPs"]
    assert spark.segments.overlap(names, today=TODAY) == duck.segments.overlap(names, today=TODAY)
    for table, column, search in [
        ("Customer_360", "state", None),
        ("Customer_360", "loyalty_tier", None),
        ("Customer_360", "city", "an"),
        ("Unified_Itemized_Transactions", "product_category", None),
    ]:
        want = duck.segments.picklist(table, column, search=search)
        assert spark.segments.picklist(table, column, search=search) == want, column


def test_the_100000_customer_demo_campaign_is_identical_row_for_row(
    tmp_path_factory: pytest.TempPathFactory, new_workspace: Any
) -> None:
    """The demo campaign (sub-audiences, first match, control groups, attributes) on 100,000
    customers: every recipient in the same sub-audience and group on both engines."""
    from herald.demo.generate import generate_demo_database

    folder = tmp_path_factory.mktemp("parity-100k")
    database = folder / "customers.duckdb"
    generate_demo_database(database, customers=100_000, seed=7, as_of=TODAY)
    root = new_workspace(folder / "ws", database)
    for duck, spark in _twins(root, database):
        campaign = "Spring Reactivation"
        expected = snapshot(duck, campaign, folder)
        got = snapshot(spark, campaign, folder)
        assert got[0] == expected[0]
        assert len(got[1]) == len(expected[1]) > 10_000
        groups = {(r["sub_audience"], r["group"], r["is_control"]) for r in expected[1]}
        assert sum(control for _, _, control in groups) >= 2, groups
        assert got[1] == expected[1]
