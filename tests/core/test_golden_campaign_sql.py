"""Golden SQL for campaigns: each ``tests/fixtures/campaigns/*.yaml`` compiles to the audience
query in the ``.sql`` file beside it, the split's steps (DESIGN §1.3) included.

The catalog, the date and the salt are fixed here, so a change in the compiler shows up as a
diff of the ``.sql`` files. When a change is intended, rewrite the files and review the diff:

    HERALD_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/core/test_golden_campaign_sql.py

Segments are the demo's examples and the campaign fixtures' own. Each golden must parse back
with sqlglot and run in DuckDB over empty tables; the Spark rendering must parse back too.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pytest
import sqlglot
import yaml
from golden import check_golden, missing_goldens, read_golden

from herald.core.campaigns.audience import AudienceContext, audience_query
from herald.core.campaigns.parse import parse_campaign
from herald.core.catalog import AttributeType, Catalog
from herald.core.segments import Segment, parse_segment
from herald.core.splitting import STEP_NOTES
from herald.demo.examples import examples_dir

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "campaigns"
FIXED_DATE = dt.date(2026, 6, 30)
SALT = "golden-salt"

_COLUMNS: dict[str, list[tuple[str, AttributeType, str]]] = {
    "Customer_360": [
        ("amperity_id", "string", "VARCHAR"),
        ("email", "string", "VARCHAR"),
        ("state", "string", "VARCHAR"),
    ],
    "Merged_Customers": [
        ("amperity_id", "string", "VARCHAR"),
        ("given_name", "string", "VARCHAR"),
        ("email", "string", "VARCHAR"),
    ],
    "Customer_Attributes": [
        ("amperity_id", "string", "VARCHAR"),
        ("is_opted_into_email", "boolean", "BOOLEAN"),
        ("is_employee", "boolean", "BOOLEAN"),
        ("is_test_account", "boolean", "BOOLEAN"),
    ],
    "Transaction_Attributes_Extended": [
        ("amperity_id", "string", "VARCHAR"),
        ("lifetime_order_revenue", "decimal", "DECIMAL(38,2)"),
    ],
}
CATALOG = Catalog.from_columns(
    (table, column, attr_type, engine_type)
    for table, columns in _COLUMNS.items()
    for column, attr_type, engine_type in columns
)
# The attributes the destinations of each campaign ask for (fixed here, so the golden does not
# depend on destination kinds): Opt-In Offer's files, as tests/campaigns/test_pipeline_cli.py
# reads them back.
SOURCES: dict[str, Sequence[str]] = {
    "opt-in-offer": ("amperity_id", "email", "given_name", "Customer_360.state"),
}
# The snapshot's attribute columns: a source named like a column already selected (the key)
# gets a suffix, as DuckDB names a repeated column, since Spark refuses to write two.
OUTPUT_NAMES: dict[str, Sequence[str]] = {
    "opt-in-offer": ("amperity_id_1", "email", "given_name", "Customer_360.state"),
}

DEFINITIONS = sorted(FIXTURES.glob("*.yaml"))
SEGMENT_FILES = [
    *sorted((examples_dir() / "segments").glob("*.yaml")),
    *FIXTURES.glob("segments/*.yaml"),
]


def _segment(name: str) -> Segment:
    for path in SEGMENT_FILES:
        segment = parse_segment(yaml.safe_load(path.read_text(encoding="utf-8")), source=path.name)
        if segment.name == name:
            return segment
    raise AssertionError(f"no segment named '{name}' for the golden campaigns")


def _compile(path: Path) -> sqlglot.exp.Select:
    campaign = parse_campaign(yaml.safe_load(path.read_text(encoding="utf-8")), source=path.name)
    ctx = AudienceContext(catalog=CATALOG, today=FIXED_DATE, resolve_segment=_segment, salt=SALT)
    return audience_query(campaign, ctx, SOURCES.get(path.stem, ()))


def test_every_campaign_fixture_has_a_golden() -> None:
    assert len(DEFINITIONS) >= 3
    missing = missing_goldens(DEFINITIONS)
    assert not missing, f"no .sql golden for {missing}; run with HERALD_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("path", DEFINITIONS, ids=[p.stem for p in DEFINITIONS])
def test_duckdb_sql_matches_golden(path: Path) -> None:
    check_golden(path, _compile(path).sql("duckdb", pretty=True) + "\n")


@pytest.mark.parametrize("path", DEFINITIONS, ids=[p.stem for p in DEFINITIONS])
def test_golden_sql_parses_back_unchanged(path: Path) -> None:
    reparsed = sqlglot.parse_one(read_golden(path.with_suffix(".sql")), read="duckdb")
    assert reparsed.sql("duckdb") == _compile(path).sql("duckdb")


@pytest.mark.parametrize("path", DEFINITIONS, ids=[p.stem for p in DEFINITIONS])
def test_spark_sql_parses_back(path: Path) -> None:
    expression = _compile(path)
    reparsed = sqlglot.parse_one(expression.sql("spark", pretty=True), read="spark")
    assert isinstance(reparsed, sqlglot.exp.Select)
    assert reparsed.sql("spark") == expression.sql("spark")


@pytest.mark.parametrize("path", DEFINITIONS, ids=[p.stem for p in DEFINITIONS])
def test_golden_sql_runs_in_duckdb(path: Path) -> None:
    """Over empty tables of the catalog: DuckDB binds every name and type in the golden."""
    with duckdb.connect() as con:
        for table, columns in _COLUMNS.items():
            con.execute(f'CREATE TABLE "{table}" ({", ".join(f"{c} {t}" for c, _, t in columns)})')
        result = con.execute(read_golden(path.with_suffix(".sql")))
        names = [d[0] for d in result.description]
        assert result.fetchall() == []
    key = ["amperity_id", "sub_audience", "group", "is_control"]
    assert names == [*key, *OUTPUT_NAMES.get(path.stem, ())]


@pytest.mark.parametrize("path", DEFINITIONS, ids=[p.stem for p in DEFINITIONS])
def test_each_split_step_is_a_named_cte_with_its_comment(path: Path) -> None:
    golden = read_golden(path.with_suffix(".sql"))
    steps = re.findall(r"^(?:WITH |\), )(\w+) AS \(\n  /\* (.*) \*/$", golden, re.MULTILINE)
    assert [name for name, _ in steps][-len(STEP_NOTES) :] == list(STEP_NOTES)
    assert dict(steps[-len(STEP_NOTES) :]) == STEP_NOTES
    assert len(steps) == 3 + len(STEP_NOTES)  # audience, members, split_groups: commented too
