"""Values are literals: matched exactly, never able to change the query (DESIGN §1.2).

Each awkward value is stored in a fixture database and must be found by ``is exactly`` (only that
row), ``contains``, ``starts with`` and ``ends with``; the compiled tree with its string literals
replaced by a placeholder must be the same for every value; and the database must be intact
afterwards. The engine is opened read-write here, so an injection would really do harm.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from herald.core.catalog import Catalog
from herald.core.segments import compile_segment, parse_segment
from herald.engines.duckdb import DuckDBEngine

FIXED_DATE = dt.date(2024, 3, 15)

AWKWARD: dict[str, str] = {
    "single-quote": "O'Brien",
    "two-single-quotes": "''",
    "double-quote": 'say "hi"',
    "lone-double-quote": '"',
    "injection": "'; DROP TABLE Customer_360; --",
    "injection-double-quoted": '"; DROP TABLE "Customer_360"; --',
    "comment-start": "/* x",
    "backslash": "C:\\temp\\new",
    "backslash-quote": "\\'",
    "trailing-backslash": "ends with \\",
    "emoji": "party 🎉🎉",
    "cjk": "東京都",
    "combining-mark": "Zoe\u0308",
    "precomposed": "Zo\u00eb",
    "newline": "line1\nline2",
    "crlf": "line1\r\nline2",
    "tab": "a\tb",
    "percent": "100%",
    "underscore": "snake_case",
    "percent-underscore": "%_%",
    "dollar-quote": "$$x$$",
    "nul": "a\x00b",
}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("literals") / "customers.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE TABLE Customer_360 (amperity_id VARCHAR, nickname VARCHAR)")
        con.executemany("INSERT INTO Customer_360 VALUES (?, ?)", list(AWKWARD.items()))
        # decoys that a LIKE or a sloppy escape would match
        con.executemany(
            "INSERT INTO Customer_360 VALUES (?, ?)",
            [
                ("decoy-like", "100 percent snakeXcase"),
                ("decoy-plain", "OBrien"),
                ("decoy-null", None),
            ],
        )
    finally:
        con.close()
    return path


@pytest.fixture(scope="module")
def engine(database: Path) -> Iterator[DuckDBEngine]:
    with DuckDBEngine(database, read_only=False) as eng:
        assert isinstance(eng, DuckDBEngine)
        yield eng


@pytest.fixture(scope="module")
def catalog(engine: DuckDBEngine) -> Catalog:
    return engine.catalog()


def compiled(catalog: Catalog, op: str, value: str) -> exp.Select:
    doc = {"name": "literal", "where": [{"attribute": "nickname", "op": op, "value": value}]}
    return compile_segment(parse_segment(doc), catalog, today=FIXED_DATE)


def matches(engine: DuckDBEngine, catalog: Catalog, op: str, value: str) -> set[str]:
    return set(engine.query(compiled(catalog, op, value)).column(0).to_pylist())


def shape(expression: exp.Expression) -> str:
    placeholder = expression.copy().transform(
        lambda n: exp.Literal.string("X") if isinstance(n, exp.Literal) and n.is_string else n
    )
    return placeholder.sql("duckdb")


def row_count(engine: DuckDBEngine) -> int:
    return int(engine.query("SELECT count(*) FROM Customer_360").column(0)[0].as_py())


@pytest.mark.parametrize("key", list(AWKWARD))
def test_awkward_value_is_matched_literally(
    engine: DuckDBEngine, catalog: Catalog, key: str
) -> None:
    value = AWKWARD[key]
    before = row_count(engine)
    same = {k for k, v in AWKWARD.items() if v == value}
    assert matches(engine, catalog, "is exactly", value) == same == {key}
    assert key in matches(engine, catalog, "contains", value)
    assert key in matches(engine, catalog, "starts with", value)
    assert key in matches(engine, catalog, "ends with", value)
    listed = compile_segment(
        parse_segment(
            {
                "name": "l",
                "where": [{"attribute": "nickname", "op": "in list", "values": [value, "zzz"]}],
            }
        ),
        catalog,
        today=FIXED_DATE,
    )
    assert set(engine.query(listed).column(0).to_pylist()) == {key}
    assert row_count(engine) == before
    tables = engine.query("SELECT table_name FROM information_schema.tables").column(0).to_pylist()
    assert tables == ["Customer_360"]


@pytest.mark.parametrize(
    "op",
    ["is exactly", "is not exactly", "contains", "does not contain", "starts with", "ends with"],
)
def test_tree_shape_does_not_depend_on_the_value(catalog: Catalog, op: str) -> None:
    shapes = {shape(compiled(catalog, op, value)) for value in [*AWKWARD.values(), "plain"]}
    assert len(shapes) == 1, shapes


def test_percent_and_underscore_are_not_wildcards(engine: DuckDBEngine, catalog: Catalog) -> None:
    assert matches(engine, catalog, "contains", "%") == {"percent", "percent-underscore"}
    assert matches(engine, catalog, "contains", "_") == {
        "underscore",
        "percent-underscore",
        "injection",
        "injection-double-quoted",  # Customer_360
    }
    assert matches(engine, catalog, "starts with", "%") == {"percent-underscore"}
    assert matches(engine, catalog, "ends with", "_case") == {"underscore"}


def test_combining_marks_are_not_normalised(engine: DuckDBEngine, catalog: Catalog) -> None:
    # "Zoë" written two ways looks the same but is different text; both are found exactly.
    assert matches(engine, catalog, "is exactly", "Zoe\u0308") == {"combining-mark"}
    assert matches(engine, catalog, "is exactly", "Zo\u00eb") == {"precomposed"}


# --- arbitrary text: hypothesis ---------------------------------------------------------------

_counter = itertools.count()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.text(max_size=40))
def test_any_text_round_trips(engine: DuckDBEngine, catalog: Catalog, value: str) -> None:
    key = f"h{next(_counter)}"
    con = duckdb.connect(str(engine.path))
    try:
        con.execute("INSERT INTO Customer_360 VALUES (?, ?)", [key, value])
        stored = dict(con.execute("SELECT amperity_id, nickname FROM Customer_360").fetchall())
    finally:
        con.close()
    try:
        assert shape(compiled(catalog, "is exactly", value)) == shape(
            compiled(catalog, "is exactly", "x")
        )
        exact = matches(engine, catalog, "is exactly", value)
        assert key in exact
        assert exact == {k for k, v in stored.items() if v == value}
        assert key in matches(engine, catalog, "contains", value)
        assert key in matches(engine, catalog, "starts with", value)
        assert key in matches(engine, catalog, "ends with", value)
        assert (
            "Customer_360"
            in engine.query("SELECT table_name FROM information_schema.tables")
            .column(0)
            .to_pylist()
        )
    finally:
        con = duckdb.connect(str(engine.path))
        try:
            con.execute("DELETE FROM Customer_360 WHERE amperity_id = ?", [key])
        finally:
            con.close()
