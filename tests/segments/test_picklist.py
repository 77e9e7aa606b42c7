"""Picklists: values with counts, most frequent first, searchable, cached per version of the
database file; personal data never listed; unknown names refused in one line."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

import herald.segments as segments_module
from herald.exceptions import SegmentError
from herald.workspace import Workspace


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segments_module, "_PICKLISTS", segments_module._Cache(256))


@pytest.fixture(scope="module")
def ws(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    with Workspace.init(tmp_path_factory.mktemp("pick") / "ws", database=str(demo_db)) as ws:
        yield ws


def rows(ws: Workspace, sql: str) -> list[tuple]:
    table = ws.engine.query(sql)
    return list(zip(*(table.column(i).to_pylist() for i in range(table.num_columns)), strict=True))


def spy(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    seen: list[object] = []
    run = ws.engine.query
    monkeypatch.setattr(ws.engine, "query", lambda q: seen.append(q) or run(q))
    return seen


def test_values_most_frequent_first_without_null(ws: Workspace) -> None:
    expected = rows(
        ws,
        "SELECT loyalty_tier, count(*) AS n FROM Customer_360 WHERE loyalty_tier IS NOT NULL "
        "GROUP BY 1 ORDER BY n DESC, 1",
    )
    assert rows(ws, "SELECT count(*) FROM Customer_360 WHERE loyalty_tier IS NULL")[0][0] > 0
    picklist = ws.segments.picklist("customer_360", "LOYALTY_TIER")
    assert (picklist.table, picklist.column, picklist.status) == (
        "Customer_360",
        "loyalty_tier",
        "values",
    )
    assert [(v.value, v.count) for v in picklist.values] == expected
    assert picklist.distinct == picklist.matches == len(expected) == 4


def test_limit_and_case_insensitive_search(ws: Workspace) -> None:
    everything = ws.segments.picklist("Customer_360", "city", limit=10_000)
    assert everything.distinct == rows(ws, "SELECT count(DISTINCT city) FROM Customer_360")[0][0]
    first = ws.segments.picklist("Customer_360", "city", limit=5)
    assert first.values == everything.values[:5]
    assert first.distinct == everything.distinct
    found = ws.segments.picklist("Customer_360", "city", search="  SaN ")
    expected = rows(
        ws,
        "SELECT city, count(*) AS n FROM Customer_360 WHERE city ILIKE '%san%' "
        "GROUP BY 1 ORDER BY n DESC, 1",
    )
    assert [(v.value, v.count) for v in found.values] == expected
    assert found.matches == len(expected) > 1
    assert found.search == "SaN"
    assert ws.segments.picklist("Customer_360", "city", search="zzzq").values == ()
    with pytest.raises(SegmentError, match="limit must be at least 1, got 0"):
        ws.segments.picklist("Customer_360", "city", limit=0)


def test_a_column_with_too_many_values_lists_only_search_matches(ws: Workspace) -> None:
    total = rows(ws, "SELECT count(DISTINCT order_id) FROM Unified_Transactions")[0][0]
    assert total > 2 * segments_module.MAX_VALUES
    plain = ws.segments.picklist("Unified_Transactions", "order_id")
    assert plain.status == "too_many"
    assert plain.values == ()
    assert abs(plain.distinct - total) / total < 0.05  # an estimate
    assert "type to search" in plain.message
    some = rows(ws, "SELECT order_id FROM Unified_Transactions ORDER BY order_id LIMIT 1")[0][0]
    needle = some[-6:].upper()
    found = ws.segments.picklist("Unified_Transactions", "order_id", search=needle, limit=3)
    expected = rows(
        ws,
        f"SELECT count(DISTINCT order_id) FROM Unified_Transactions "
        f"WHERE order_id ILIKE '%{needle}%'",
    )[0][0]
    assert found.status == "too_many"
    assert found.matches == expected >= 1
    assert some in [v.value for v in found.values] or found.matches > 3
    assert all(needle.lower() in v.value.lower() for v in found.values)


def test_exact_count_between_the_listed_limit_and_the_estimate(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    cities = ws.segments.picklist("Customer_360", "city").distinct
    monkeypatch.setattr(segments_module, "MAX_VALUES", cities - 1)  # estimate ≤ 2× the limit
    monkeypatch.setattr(segments_module, "_PICKLISTS", segments_module._Cache(256))
    picklist = ws.segments.picklist("Customer_360", "city")
    assert picklist.status == "too_many"
    assert picklist.distinct == cities
    found = ws.segments.picklist("Customer_360", "city", search="a")
    assert found.values
    assert all("a" in v.value.lower() for v in found.values)


@pytest.mark.parametrize(
    ("table", "column"),
    [("Customer_360", "email"), ("Merged_Customers", "phone"), ("Customer_360", "amperity_id")],
)
def test_contact_details_and_the_key_are_never_listed(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, table: str, column: str
) -> None:
    seen = spy(ws, monkeypatch)
    picklist = ws.segments.picklist(table, column, search="a")
    assert picklist.status == "private"
    assert picklist.values == ()
    assert not seen
    assert "not listed" in picklist.message


@pytest.mark.parametrize(
    ("table", "column", "message"),
    [
        ("Customer_36", "state", "unknown table 'Customer_36'. Did you mean 'Customer_360'?"),
        ("Customer_360", "stat", "unknown column 'stat' in table 'Customer_360'. Did you mean"),
        ('Customer_360"; DROP TABLE x; --', "state", "unknown table"),
    ],
)
def test_unknown_names_are_refused_in_one_line(
    ws: Workspace, table: str, column: str, message: str
) -> None:
    with pytest.raises(SegmentError, match=message.replace("?", r"\?")) as caught:
        ws.segments.picklist(table, column)
    assert "\n" not in str(caught.value)


def test_a_repeated_call_is_served_from_the_cache(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ws.segments.picklist("Customer_360", "state")
    seen = spy(ws, monkeypatch)
    assert ws.segments.picklist("Customer_360", "state") == first
    assert ws.segments.picklist("Customer_360", "state", search="c").values
    assert seen == []


def test_a_changed_database_file_is_counted_again(tmp_path: Path, demo_db: Path) -> None:
    database = tmp_path / "customers.duckdb"
    shutil.copy(demo_db, database)
    with Workspace.init(tmp_path / "ws", database=str(database)) as ws:
        before = ws.segments.picklist("Customer_360", "gender")
    with Workspace.open(tmp_path / "ws") as ws:
        assert ws.segments.picklist("Customer_360", "gender") == before  # same file: cached
    with duckdb.connect(str(database)) as con:
        con.execute("UPDATE Customer_360 SET gender = 'Q' WHERE gender = 'X'")
        con.execute("CHECKPOINT")
    with Workspace.open(tmp_path / "ws") as ws:
        after = ws.segments.picklist("Customer_360", "gender")
    assert "Q" in [v.value for v in after.values]
    assert "X" not in [v.value for v in after.values]
    assert "X" in [v.value for v in before.values]
