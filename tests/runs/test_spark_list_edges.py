"""Edges of a Klaviyo list prepared and diffed by Spark, on a hand-made snapshot: a group with
no recipient empties its list (only the ledger's keys are removed), and a group whose
addresses an earlier group or an earlier control keeps loses exactly those customers (as
``herald.runs.claims`` decides on this machine: checked against it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from spark_engine import require_spark, spark_options
from sqlglot import exp

from herald.campaigns import Build
from herald.core.campaigns.model import AttributeMapping
from herald.core.campaigns.parse import parse_campaign
from herald.core.campaigns.validate import Resolved
from herald.destinations.klaviyo_api.engine_diff import compute_engine_diff, write_engine_inputs
from herald.destinations.klaviyo_api.factory import KlaviyoApiDestination
from herald.destinations.klaviyo_api.ledger import LEDGER_SCHEMA
from herald.engines.spark import SparkEngine
from herald.runs.claims import claim_emails
from herald.runs.spark_lists import SparkLists, SparkPrepared, run_folder

pytestmark = [pytest.mark.spark]

CAMPAIGN = parse_campaign(
    {
        "name": "Edges",
        "include": "Everyone",
        "remaining": {
            "groups": [
                {"name": "A", "percent": 40, "destinations": ["klaviyo"]},
                # A control before B in campaign order keeps its addresses from B.
                {"name": "Hold", "percent": 20, "control": True},
                {"name": "B", "percent": 40, "destinations": ["klaviyo"]},
            ]
        },
    }
)
SUB = "All Remaining Recipients"
EMAIL = (AttributeMapping("email", "email"),)


def _item(group: str) -> Resolved:
    return Resolved(SUB, group, "klaviyo", KlaviyoApiDestination.kind, EMAIL, f"Edges_{group}")


def _build() -> Build:
    """What a run's staging reads of its build: the campaign and its groups' destinations."""
    query = exp.select("*")  # never run: the snapshot is written by hand
    resolved = [_item("A"), _item("B")]
    return Build(CAMPAIGN, 1, query, resolved, [], {}, dt.datetime.now(dt.UTC), [])


def _snapshot(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """Rows of (key, group, email), control flag from the group."""
    pq.write_table(
        pa.table(
            {
                "amperity_id": [k for k, _, _ in rows],
                "sub_audience": [SUB] * len(rows),
                "group": [g for _, g, _ in rows],
                "is_control": [g == "Hold" for _, g, _ in rows],
                "email": [e for _, _, e in rows],
            }
        ),
        path,
    )


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkEngine]:
    require_spark()
    work = tmp_path_factory.mktemp("work")
    spark = SparkEngine(**spark_options(work_dir=work))
    with spark:
        yield spark


def _prepare(
    engine: SparkEngine, tmp_path: Path, rows: list[tuple[str, str, str]], group: str
) -> SparkPrepared:
    snapshot = tmp_path / "recipients.parquet"
    _snapshot(snapshot, rows)
    shape = KlaviyoApiDestination.capabilities.engine_rows
    assert shape is not None
    lists = SparkLists(engine, _build(), snapshot, "r1", key="amperity_id", scratch=tmp_path)
    number = 1 if group == "A" else 2
    return lists.prepare(_item(group), number, shape)


def test_an_empty_group_empties_its_list_of_what_herald_added(
    engine: SparkEngine, tmp_path: Path
) -> None:
    prepared = _prepare(engine, tmp_path, [("k1", "A", "a@example.com")], "B")
    assert (prepared.num_rows, prepared.records.records, prepared.drops) == (0, 0, {})
    folder = tmp_path / "delivery"
    write_engine_inputs(folder, prepared.records)
    ledger = tmp_path / "ledger.parquet"
    member = {"key": "k9", "email": "z@example.com", "ident": "e:z@example.com",
              "attr_hash": "h", "status": "member"}  # fmt: skip
    pq.write_table(pa.Table.from_pylist([member], schema=LEDGER_SCHEMA), ledger)
    counts = compute_engine_diff(engine, folder, ledger)
    assert (counts.desired, counts.adds, counts.updates, counts.removes) == (0, 0, 0, 1)
    assert pq.read_table(folder / "removes.parquet").column("key").to_pylist() == ["k9"]
    assert pq.read_table(folder / "adds.parquet").num_rows == 0


def test_an_address_kept_by_an_earlier_group_or_a_control_is_not_sent(
    engine: SparkEngine,
    tmp_path: Path,
) -> None:
    rows = [
        ("k1", "A", "Shared@Example.com "),  # A comes first: it keeps the address
        ("k2", "B", "shared@example.com"),
        ("k3", "Hold", "held@example.com"),  # a control earlier than B keeps its addresses
        ("k4", "B", "HELD@example.com"),
        ("k5", "B", "own@example.com"),
        ("k6", "B", "own@example.com"),  # a duplicate within B: the smaller key keeps it
        ("k7", "B", "not an email"),
    ]
    prepared = _prepare(engine, tmp_path, rows, "B")
    with claim_emails(tmp_path / "recipients.parquet", CAMPAIGN, _build().resolved) as here:
        assert here.counts() == {("klaviyo", 2): 2}  # B's rank is 2: what Spark must find
    assert prepared.num_rows == 1
    assert prepared.drops == {
        "duplicate_email": 1,
        "duplicate_email_in_campaign": 2,
        "invalid_email": 1,
    }
    skipped = pq.read_table(prepared.records.skipped).to_pylist()
    assert sorted((r["key"], r["reason"]) for r in skipped) == [
        ("k2", "duplicate_email_in_campaign"),
        ("k4", "duplicate_email_in_campaign"),
        ("k6", "duplicate_email"),
        ("k7", "invalid_email"),
    ]
    kept = engine.kept(f"{run_folder('r1')}/2")
    assert kept is not None
    sent = kept.where("desired").select("key", "email").toArrow().to_pylist()
    assert sent == [{"key": "k5", "email": "own@example.com"}]
    with duckdb.connect() as con:  # the hash DuckDB's diff keeps in ledgers
        [(expected,)] = con.execute('SELECT md5(\'{"email":"own@example.com"}\')').fetchall()
    assert kept.where("desired").select("attr_hash").toArrow().column(0).to_pylist() == [expected]
