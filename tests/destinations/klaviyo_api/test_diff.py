"""The diff and the ledger on small Parquet files (no Klaviyo)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from herald.destinations.klaviyo_api import diff
from herald.destinations.klaviyo_api.desired import write_desired
from herald.destinations.klaviyo_api.ledger import (
    batches_table,
    merge_ledger,
    write_outcomes,
    write_rejects,
)


def desired(folder: Path, rows: list[tuple[str, str, str]]) -> Path:
    """``rows``: (key, email, tier) → desired.parquet."""
    table = pa.table({"amperity_id": [r[0] for r in rows], "email": [r[1] for r in rows],
                      "tier": [r[2] for r in rows]})  # fmt: skip
    path = folder / "desired.parquet"
    path.unlink(missing_ok=True)
    write_desired(table, ["email", "tier"], "amperity_id", path)
    return path


def read(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


def confirm_all(folder: Path, ledger: Path) -> int:
    batches = [(kind, 0, n, f"J-{kind}") for kind, n in
               (("add", len(read(folder / "adds.parquet"))),
                ("update", len(read(folder / "updates.parquet"))),
                ("remove", sum(r["settled"] is None for r in read(folder / "removes.parquet"))))
               if n]  # fmt: skip
    return merge_ledger(ledger, folder, batches_table(batches), [folder / "rejects.parquet"])


def test_a_first_diff_adds_everything_in_key_order(tmp_path: Path) -> None:
    path = desired(tmp_path, [("b", "b@x.co", "gold"), ("a", "a@x.co", "gold")])

    counts = diff.compute_diff(path, tmp_path / "ledger.parquet", tmp_path)

    assert (counts.desired, counts.adds, counts.updates, counts.removes, counts.unchanged) == (
        2,
        2,
        0,
        0,
        0,
    )
    assert [(r["row"], r["key"], r["ident"]) for r in read(tmp_path / "adds.parquet")] == [
        (0, "a", "e:a@x.co"),
        (1, "b", "e:b@x.co"),
    ]
    assert read(tmp_path / "removes.parquet") == []


def test_joiners_leavers_changed_attributes_and_changed_identities(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.parquet"
    desired(tmp_path, [("a", "a@x.co", "gold"), ("b", "b@x.co", "gold"), ("c", "c@x.co", "gold")])
    diff.compute_diff(tmp_path / "desired.parquet", ledger, tmp_path)
    assert confirm_all(tmp_path, ledger) == 3

    # a leaves, b changes tier, c changes email, d joins
    desired(
        tmp_path, [("b", "b@x.co", "silver"), ("c", "c2@x.co", "gold"), ("d", "d@x.co", "gold")]
    )
    counts = diff.compute_diff(tmp_path / "desired.parquet", ledger, tmp_path)

    assert (counts.adds, counts.updates, counts.removes, counts.unchanged) == (2, 1, 2, 0)
    assert [r["key"] for r in read(tmp_path / "adds.parquet")] == ["c", "d"]
    assert [r["key"] for r in read(tmp_path / "updates.parquet")] == ["b"]
    removes = read(tmp_path / "removes.parquet")
    assert [(r["key"], r["ident"], r["settled"]) for r in removes] == [
        ("a", "e:a@x.co", None),
        ("c", "e:c@x.co", None),
    ]

    assert confirm_all(tmp_path, ledger) == 3
    rows = {r["key"]: r for r in read(ledger)}
    assert {k: r["ident"] for k, r in rows.items()} == {
        "b": "e:b@x.co",
        "c": "e:c2@x.co",
        "d": "e:d@x.co",
    }
    assert diff.compute_diff(tmp_path / "desired.parquet", ledger, tmp_path).unchanged == 3


def test_merging_twice_gives_the_same_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.parquet"
    desired(tmp_path, [("a", "a@x.co", "gold"), ("b", "b@x.co", "gold")])
    diff.compute_diff(tmp_path / "desired.parquet", ledger, tmp_path)
    confirm_all(tmp_path, ledger)
    desired(tmp_path, [("b", "b2@x.co", "gold"), ("c", "c@x.co", "gold")])
    diff.compute_diff(tmp_path / "desired.parquet", ledger, tmp_path)

    confirm_all(tmp_path, ledger)
    once = read(ledger)
    confirm_all(tmp_path, ledger)  # a crash after the rename, then resume

    assert read(ledger) == once
    assert [r["key"] for r in once] == ["b", "c"]


def test_an_identity_another_customer_keeps_is_not_removed(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.parquet"
    desired(tmp_path, [("a", "shared@x.co", "gold")])
    diff.compute_diff(tmp_path / "desired.parquet", ledger, tmp_path)
    confirm_all(tmp_path, ledger)

    desired(tmp_path, [("z", "shared@x.co", "gold")])  # a leaves, z joins with the same email
    counts = diff.compute_diff(tmp_path / "desired.parquet", ledger, tmp_path)

    assert (counts.adds, counts.removes, counts.settled) == (1, 0, 1)
    assert read(tmp_path / "removes.parquet")[0]["settled"] == "kept_by_other_key"


def test_rejected_profiles_stay_out_of_the_ledger_and_updates_keep_the_old_row(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "ledger.parquet"
    desired(tmp_path, [("a", "a@x.co", "gold"), ("b", "b@x.co", "gold")])
    diff.compute_diff(tmp_path / "desired.parquet", ledger, tmp_path)
    write_rejects(tmp_path / "rejects.parquet", ["b"], ["duplicate_profile: conflict"])
    confirm_all(tmp_path, ledger)
    assert [r["key"] for r in read(ledger)] == ["a"]

    desired(tmp_path, [("a", "a@x.co", "silver"), ("b", "b@x.co", "gold")])
    counts = diff.compute_diff(tmp_path / "desired.parquet", ledger, tmp_path)
    assert (counts.adds, counts.updates) == (1, 1)  # b is retried
    write_rejects(tmp_path / "rejects.parquet", ["a"], ["invalid: nope"])
    old = read(ledger)[0]["attr_hash"]
    confirm_all(tmp_path, ledger)

    rows = {r["key"]: r for r in read(ledger)}
    assert rows["a"]["attr_hash"] == old  # the rejected update keeps the old row: retried next run
    assert set(rows) == {"a", "b"}


def test_outcomes_name_every_profile(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.parquet"
    desired(tmp_path, [("a", "a@x.co", "gold"), ("b", "b@x.co", "gold")])
    diff.compute_diff(tmp_path / "desired.parquet", ledger, tmp_path)
    write_rejects(tmp_path / "rejects.parquet", ["b"], ["duplicate_profile: conflict"])
    table = batches_table([("add", 0, 2, "J1")])
    skipped = pa.table({"key": ["x"], "reason": ["invalid_email"]})

    counts = write_outcomes(
        tmp_path / "outcomes.parquet", tmp_path, table, [tmp_path / "rejects.parquet"], skipped
    )

    assert counts == {"rejected": 1, "sent": 1, "skipped_invalid": 1}
    assert read(tmp_path / "outcomes.parquet") == [
        {
            "key": "b",
            "outcome": "rejected",
            "reason": "duplicate_profile: conflict",
            "job_id": "J1",
        },
        {"key": "a", "outcome": "sent", "reason": None, "job_id": "J1"},
        {"key": "x", "outcome": "skipped_invalid", "reason": "invalid_email", "job_id": None},
    ]
