"""desired.parquet in key order, and diff files and ledgers written without sorting profiles:
the same files as the plain SQL (sort everything by key) gives, across batch boundaries."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from herald.destinations.klaviyo_api import _parquet, diff
from herald.destinations.klaviyo_api import desired as desired_module
from herald.destinations.klaviyo_api.desired import is_key_ordered, write_desired
from herald.destinations.klaviyo_api.ledger import (
    batches_table,
    ledger_source,
    merge_ledger,
    write_rejects,
)

# --- the plain SQL the streaming code replaces: the reference ---------------------------------


def _sql(con: duckdb.DuckDBPyConnection, select: str, target: Path) -> None:
    con.execute(f"COPY ({select}) TO '{target}' (FORMAT parquet)")


def reference_diff(desired: Path, ledger: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ident = _parquet.ident()
    with duckdb.connect() as con:
        con.execute(
            f"CREATE TABLE d AS SELECT *, {ident} AS ident, md5(profile) AS attr_hash "
            f"FROM read_parquet('{desired}')"
        )
        con.execute(f"CREATE TABLE l AS SELECT * FROM {ledger_source(ledger)}")
        columns = "d.key, d.email, d.phone_number, d.external_id, d.ident, d.attr_hash, d.profile"
        _sql(
            con,
            f"""SELECT row_number() OVER (ORDER BY d.key) - 1 AS row, {columns},
                       l.key IS NOT NULL AS repair
                FROM d LEFT JOIN l ON l.key = d.key
                WHERE l.key IS NULL OR l.ident IS DISTINCT FROM d.ident ORDER BY d.key""",
            out / "adds.parquet",
        )
        _sql(
            con,
            f"""SELECT row_number() OVER (ORDER BY d.key) - 1 AS row, {columns}, false AS repair
                FROM d JOIN l ON l.key = d.key AND l.ident = d.ident
                WHERE l.status = 'member' AND d.attr_hash IS DISTINCT FROM l.attr_hash
                ORDER BY d.key""",
            out / "updates.parquet",
        )


def reference_ledger(ledger: Path, folder: Path, confirmed: pa.Table, rejects: Path) -> pa.Table:
    def rows(name: str, kind: str) -> str:
        return f"""SELECT f.* FROM read_parquet('{folder / name}') f
                   JOIN (SELECT * FROM confirmed WHERE kind = '{kind}') b
                     ON f.row >= b.first_row AND f.row < b.first_row + b.row_count"""

    with duckdb.connect() as con:
        con.register("confirmed", confirmed)
        return con.sql(
            f"""
            WITH accepted AS (
                SELECT key, email, phone_number, external_id, ident, attr_hash FROM (
                    {rows("adds.parquet", "add")} UNION ALL BY NAME
                    {rows("updates.parquet", "update")}
                ) WHERE key NOT IN (SELECT key FROM read_parquet('{rejects}'))
            ), touched AS (
                SELECT key FROM accepted UNION SELECT key FROM ({rows("removes.parquet", "remove")})
                UNION SELECT key FROM read_parquet('{folder / "removes.parquet"}')
                WHERE settled IS NOT NULL
            )
            SELECT * FROM (
                SELECT l.* FROM {ledger_source(ledger)} l
                WHERE l.key NOT IN (SELECT key FROM touched)
                UNION ALL
                SELECT a.*, o.profile_id, 'member' FROM accepted a
                LEFT JOIN {ledger_source(ledger)} o ON o.key = a.key AND o.ident = a.ident
            ) ORDER BY key
            """
        ).to_arrow_table()


# --- helpers ------------------------------------------------------------------------------------


def records(rows: list[tuple[str, str | None, str]]) -> pa.Table:
    """(key, email, tier) rows as prepared records."""
    return pa.table(
        {
            "email": pa.array([r[1] for r in rows], pa.string()),
            "tier": pa.array([r[2] for r in rows], pa.string()),
            "amperity_id": pa.array([r[0] for r in rows], pa.string()),
        }
    )


def read(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


def same_file(path: Path, expected: Path) -> None:
    table, reference = pq.read_table(path), pq.read_table(expected)
    assert table.to_pylist() == reference.to_pylist()


def random_rows(seed: int, n: int) -> list[tuple[str, str | None, str]]:
    rng = random.Random(seed)
    keys = rng.sample(range(10 * n + 10), n)
    return [
        (f"k{k}", rng.choice([f"e{k}@x.co", f"shared{k % 3}@x.co", None]), rng.choice("ab"))
        for k in keys
    ]


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches (and row groups) of 3 rows, so every file spans many."""
    monkeypatch.setattr(_parquet, "BATCH_ROWS", 3)


# --- desired.parquet --------------------------------------------------------------------------


def test_desired_is_in_key_order_whatever_order_records_come_in(
    tmp_path: Path, small_batches: None
) -> None:
    rows = [("b", "b@x.co", "a"), ("c", None, "b"), ("a", "a@x.co", "a"), ("b", "b2@x.co", "b")]
    rows += [(f"k{i}", f"{i}@x.co", "a") for i in range(7, 0, -1)]
    table = records(rows)

    written, too_large = write_desired(table, ["email", "tier"], "amperity_id", tmp_path / "t")

    assert written == len(rows)
    assert too_large.num_rows == 0
    assert is_key_ordered(tmp_path / "t")
    keys = [r["key"] for r in read(tmp_path / "t")]
    assert keys == sorted(keys)
    assert [r["email"] for r in read(tmp_path / "t") if r["key"] == "b"] == ["b@x.co", "b2@x.co"]
    # The same records streamed in key order are written as they come: the same file.
    ordered = pa.RecordBatchReader.from_batches(
        table.schema, table.sort_by("amperity_id").to_batches(max_chunksize=2)
    )
    write_desired(ordered, ["email", "tier"], "amperity_id", tmp_path / "s")
    assert read(tmp_path / "s") == read(tmp_path / "t")


def test_desired_leaves_out_profiles_over_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_batches: None
) -> None:
    monkeypatch.setattr(desired_module, "MAX_PROFILE_BYTES", 50)
    rows = [
        ("a", "a@x.co", "a"),
        ("b", "a-very-long-address@example.com", "b"),
        ("c", "c@x.co", "a"),
    ]

    written, too_large = write_desired(
        records(rows), ["email", "tier"], "amperity_id", tmp_path / "d"
    )

    assert written == 2
    assert too_large.to_pylist() == [{"key": "b", "reason": "profile_too_large"}]
    assert [r["key"] for r in read(tmp_path / "d")] == ["a", "c"]


def test_desired_from_no_records(tmp_path: Path) -> None:
    empty = pa.RecordBatchReader.from_batches(records([]).schema, [])
    assert write_desired(empty, ["email"], "amperity_id", tmp_path / "d")[0] == 0
    assert read(tmp_path / "d") == []


# --- the diff and the ledger ------------------------------------------------------------------


def ledger_from(folder: Path, ledger: Path, keep: float, seed: int) -> None:
    """A ledger that holds some of the adds, with some hashes changed: updates next time."""
    rng = random.Random(seed)
    rows = [r for r in read(folder / "adds.parquet") if rng.random() < keep]
    table = pa.table(
        {
            "key": [r["key"] for r in rows],
            "email": [r["email"] for r in rows],
            "phone_number": pa.array([None] * len(rows), pa.string()),
            "external_id": pa.array([None] * len(rows), pa.string()),
            "ident": [r["ident"] for r in rows],
            "attr_hash": [r["attr_hash"] if rng.random() < 0.7 else "old" for r in rows],
            "profile_id": [f"P{r['key']}" for r in rows],
            "status": [rng.choice(["member", "member", "bounced"]) for _ in rows],
        }
    )
    pq.write_table(table, ledger)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_diff_files_equal_the_plain_sql(tmp_path: Path, seed: int, small_batches: None) -> None:
    desired, ledger = tmp_path / "desired.parquet", tmp_path / "ledger.parquet"
    write_desired(records(random_rows(seed, 40)), ["email", "tier"], "amperity_id", desired)
    diff.compute_diff(desired, ledger, tmp_path / "first")
    ledger_from(tmp_path / "first", ledger, keep=0.6, seed=seed)
    write_desired(records(random_rows(seed, 40)[5:]), ["email", "tier"], "amperity_id", desired)

    counts = diff.compute_diff(desired, ledger, tmp_path / "new")
    reference_diff(desired, ledger, tmp_path / "reference")

    for name in ("adds.parquet", "updates.parquet"):
        same_file(tmp_path / "new" / name, tmp_path / "reference" / name)
    assert counts.adds == len(read(tmp_path / "new" / "adds.parquet")) > 0
    assert counts.updates == len(read(tmp_path / "new" / "updates.parquet")) > 0
    assert pq.ParquetFile(tmp_path / "new" / "adds.parquet").metadata.num_row_groups > 1


def test_a_desired_file_not_in_key_order_is_diffed_the_same(
    tmp_path: Path, small_batches: None
) -> None:
    ordered = tmp_path / "desired.parquet"
    write_desired(records(random_rows(4, 30)), ["email", "tier"], "amperity_id", ordered)
    shuffled = pq.read_table(ordered).take(list(range(29, -1, -1))).replace_schema_metadata(None)
    legacy = tmp_path / "legacy.parquet"
    pq.write_table(shuffled, legacy)  # as files were written before: snapshot order, no flag
    assert not is_key_ordered(legacy)

    a = diff.compute_diff(ordered, tmp_path / "none.parquet", tmp_path / "a")
    b = diff.compute_diff(legacy, tmp_path / "none.parquet", tmp_path / "b")

    assert a == b
    same_file(tmp_path / "b" / "adds.parquet", tmp_path / "a" / "adds.parquet")
    assert not (tmp_path / "b" / ".desired.ordered.parquet").exists()


@pytest.mark.parametrize("seed", [5, 6])
def test_merged_ledger_equals_the_plain_sql(tmp_path: Path, seed: int, small_batches: None) -> None:
    desired, ledger = tmp_path / "desired.parquet", tmp_path / "ledger.parquet"
    write_desired(records(random_rows(seed, 40)), ["email", "tier"], "amperity_id", desired)
    diff.compute_diff(desired, ledger, tmp_path / "first")
    ledger_from(tmp_path / "first", ledger, keep=0.7, seed=seed)
    before = tmp_path / "before.parquet"
    before.write_bytes(ledger.read_bytes())
    write_desired(records(random_rows(seed, 40)[8:]), ["email", "tier"], "amperity_id", desired)
    folder = tmp_path / "run"
    counts = diff.compute_diff(desired, ledger, folder)
    sends = sum(r["settled"] is None for r in read(folder / "removes.parquet"))
    assert counts.adds
    assert counts.updates
    assert sends
    # Part of each kind confirmed; one add rejected.
    confirmed = batches_table(
        [
            ("add", 1, counts.adds - 1, "J1"),
            ("update", 0, counts.updates // 2 + 1, "J2"),
            ("remove", 0, sends, None),
        ]
    )
    rejected = read(folder / "adds.parquet")[2]["key"]
    write_rejects(folder / "rejects.parquet", [rejected], ["invalid"])

    count = merge_ledger(ledger, folder, confirmed, [folder / "rejects.parquet"])

    expected = reference_ledger(before, folder, confirmed, folder / "rejects.parquet")
    assert read(ledger) == expected.to_pylist()
    assert count == expected.num_rows
    # Applying the same work again changes nothing (a resumed delivery).
    merge_ledger(ledger, folder, confirmed, [folder / "rejects.parquet"])
    assert read(ledger) == expected.to_pylist()
