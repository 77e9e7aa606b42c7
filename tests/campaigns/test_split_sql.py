"""The split as it really runs: the audience query in DuckDB over a table of N keys.

Properties (DESIGN §1.3): sizes exact by largest remainder; groups disjoint and together the
whole audience; contiguous runs of the documented ``md5(salt || ':' || key)`` hex order
(recomputed with :mod:`hashlib`); the same assignment on a second run and whatever the
table's row order; and stability when 1 % of the audience is replaced. What the SQL must give
comes from the split oracle, :mod:`oracles.splitting`.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable, Sequence
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracles.splitting import expected_groups, largest_remainder, md5_order, percentages
from spark_engine import ENGINES

from herald.core.splitting import BASIS

SQL_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def make_keys(count: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    alphabet = "abcdef0123456789-_é漢"  # unicode keys too: md5 is over UTF-8 bytes everywhere
    keys = {"".join(rnd.choices(alphabet, k=rnd.randint(1, 12))) for _ in range(count * 2)}
    return sorted(keys)[:count] if len(keys) >= count else [f"k{i}" for i in range(count)]


salts = st.one_of(st.just("0f3c2a1b9d8e7f6a5b4c3d2e1f0a9b8c"), st.text(min_size=0, max_size=12))


def assignment(rows: Sequence[tuple[str, str, str, bool]]) -> dict[str, str]:
    keys = [r[0] for r in rows]
    assert len(keys) == len(set(keys)), "a customer is in two groups of one sub-audience"
    return {r[0]: r[2] for r in rows}


@SQL_SETTINGS
@given(
    size=st.one_of(st.integers(0, 40), st.integers(0, 5000)),
    seed=st.integers(0, 2**32),
    bps=percentages(max_groups=6),
    salt=salts,
)
def test_sql_split_is_exact_disjoint_complete_and_in_md5_order(
    rig_cls: type, splits: Callable[..., object], size: int, seed: int, bps: list[int], salt: str
) -> None:
    keys = make_keys(size, seed)
    shuffled = random.Random(seed).sample(keys, len(keys))
    campaign = splits(bps)
    with rig_cls(keys) as first, rig_cls(shuffled) as other:
        rows = first.rows(campaign, salt)
        got = assignment(rows)
        again = assignment(first.rows(campaign, salt))
        from_shuffled = assignment(other.rows(campaign, salt))

    assert set(got) == set(keys)  # disjoint (checked in assignment) and together the whole audience
    counts = Counter(got.values())
    assert [counts.get(f"G{i}", 0) for i in range(len(bps))] == largest_remainder(size, bps)
    assert got == expected_groups(keys, salt, bps)  # contiguous runs of hashlib's md5 order
    assert again == got  # the same assignment on a second run
    assert from_shuffled == got  # whatever order the rows are stored in
    assert {(r[1], r[3]) for r in rows} <= {("All Remaining Recipients", False)}


@pytest.mark.parametrize("kind", ENGINES)
def test_md5_order_is_the_documented_one(
    rig_cls: type, splits: Callable[..., object], kind: str
) -> None:
    """A small case written out: 10 keys, 30/30/40, salt 'S'. The groups are exactly the runs
    of the keys sorted by hashlib.md5('S:' + key).hexdigest(), on either engine."""
    keys = ["a", "b", "c", "d", "e", "f", "g", "ü", "漢字", "id-10"]
    order = sorted(keys, key=lambda k: hashlib.md5(f"S:{k}".encode()).hexdigest())
    with rig_cls(keys, kind=kind) as rig:
        got = assignment(rig.rows(splits([3000, 3000, 4000]), "S"))

    assert [got[k] for k in order] == ["G0"] * 3 + ["G1"] * 3 + ["G2"] * 4


@pytest.mark.parametrize("kind", ENGINES)
def test_the_salt_changes_the_assignment(
    rig_cls: type, splits: Callable[..., object], kind: str
) -> None:
    keys = [f"c{i}" for i in range(500)]
    with rig_cls(keys, kind=kind) as rig:
        one = assignment(rig.rows(splits([5000, 5000]), "salt-one"))
        two = assignment(rig.rows(splits([5000, 5000]), "salt-two"))

    assert Counter(one.values()) == Counter(two.values()) == {"G0": 250, "G1": 250}
    assert one != two


@pytest.mark.spark
@pytest.mark.parametrize(
    ("size", "bps", "salt"),
    [
        (20_004, [3333, 3333, 3334], "0f3c2a1b9d8e7f6a5b4c3d2e1f0a9b8c"),
        (1_201, [1000, 4500, 4500], "é漢 salt"),
        (7, [5000, 5000], ""),
        (0, [10000], "s"),
    ],
)
def test_spark_gives_every_key_the_group_duckdb_gives(
    rig_cls: type, splits: Callable[..., object], size: int, bps: list[int], salt: str
) -> None:
    """DESIGN §1.3's check: the same md5 order and group for every key on both engines,
    unicode keys and salts included (keys as ``make_keys`` draws them)."""
    keys = make_keys(size, seed=size)
    with rig_cls(keys) as duck, rig_cls(keys, kind="spark") as spark:
        expected = duck.rows(splits(bps), salt)
        assert sorted(spark.rows(splits(bps), salt)) == sorted(expected)
    assert len(expected) == size


def replace_members(
    keys: list[str], share: Fraction, seed: int
) -> tuple[list[str], set[str], set[str]]:
    """Remove ``share`` of the members at random and add as many new ones."""
    rnd = random.Random(seed)
    count = max(1, int(len(keys) * share))
    removed = set(rnd.sample(keys, count))
    added = {f"new-{seed}-{i}" for i in range(count)}
    return [k for k in keys if k not in removed] + sorted(added), removed, added


@SQL_SETTINGS
@given(size=st.integers(100, 3000), seed=st.integers(0, 2**32), bps=percentages(max_groups=4))
def test_replacing_one_percent_moves_almost_nobody(
    rig_cls: type, splits: Callable[..., object], size: int, seed: int, bps: list[int]
) -> None:
    keys = [f"m{seed}-{i}" for i in range(size)]
    after, removed, added = replace_members(keys, Fraction(1, 100), seed)
    salt = f"salt-{seed}"
    with rig_cls(keys) as before_rig, rig_cls(after) as after_rig:
        old = assignment(before_rig.rows(splits(bps), salt))
        new = assignment(after_rig.rows(splits(bps), salt))

    continuing = [k for k in md5_order(keys, salt) if k not in removed]
    # The order of continuing members never changes: each group is an interval of it.
    assert [k for k in md5_order(after, salt) if k not in added] == continuing
    moved = [k for k in continuing if old[k] != new[k]]
    # Each of the len(bps) - 1 group boundaries can carry at most (members replaced)
    # continuing members across it; at 1 % replaced and 2 groups that is ≥ 98.99 % kept.
    assert len(moved) <= (len(bps) - 1) * len(removed)


def test_one_percent_replaced_out_of_100000_keeps_99_percent_in_their_group(
    rig_cls: type, splits: Callable[..., object]
) -> None:
    keys = [f"cust-{i:06d}" for i in range(100_000)]
    after, removed, added = replace_members(keys, Fraction(1, 100), seed=2026)
    assert (len(removed), len(added), len(after)) == (1_000, 1_000, 100_000)
    campaign = splits([1000, 4500, 4500], controls=[0])
    with rig_cls(keys) as before_rig, rig_cls(after) as after_rig:
        old = {
            r[0]: r[2]
            for r in before_rig.con.execute(before_rig.sql(campaign, "fixed-salt")).fetchall()
        }
        new = {
            r[0]: r[2]
            for r in after_rig.con.execute(after_rig.sql(campaign, "fixed-salt")).fetchall()
        }

    assert (
        Counter(old.values()) == Counter(new.values()) == {"G0": 10_000, "G1": 45_000, "G2": 45_000}
    )
    continuing = [k for k in keys if k not in removed]
    kept = sum(old[k] == new[k] for k in continuing)
    assert kept / len(continuing) >= 0.99, f"only {kept:,} of {len(continuing):,} kept their group"


@pytest.mark.parametrize("grown", [50, -40], ids=["audience-grows-by-50", "audience-shrinks-by-40"])
def test_a_control_of_20_percent_follows_the_audience_size(
    rig_cls: type, splits: Callable[..., object], grown: int
) -> None:
    """Amperity's example: 20 % of 1,200 is 240; adding members only adds to groups (the old
    members keep their order), removing members only removes."""
    keys = [f"x{i}" for i in range(1200)]
    changed = [*keys, *(f"y{i}" for i in range(grown))] if grown > 0 else keys[: len(keys) + grown]
    with rig_cls(keys) as a, rig_cls(changed) as b:
        old = assignment(a.rows(splits([2000, 8000], controls=[0]), "s"))
        new = assignment(b.rows(splits([2000, 8000], controls=[0]), "s"))

    assert Counter(new.values())["G0"] == (len(changed) * 2000 + BASIS // 2) // BASIS
    continuing = set(old) & set(new)
    assert sum(old[k] != new[k] for k in continuing) <= abs(grown)
