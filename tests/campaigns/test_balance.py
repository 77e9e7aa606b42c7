"""Randomization balance: control and treatment groups drawn by the md5 split do not differ in
lifetime revenue (Mann–Whitney U) or email opt-in rate (two-proportion z-test) beyond chance
at α = 0.01, on 20,000 demo customers with a fixed salt (so the outcome is deterministic).

scipy is not a dependency: both statistics use their normal approximation, implemented here
and checked against hand-computed values and against a deliberately unbalanced split.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from herald.core.campaigns.audience import AudienceContext, audience_query
from herald.core.campaigns.parse import parse_campaign
from herald.core.segments.model import Segment
from herald.engines.base import create_engine

ALPHA = 0.01
SALT = "balance-check-2026"
REVENUE = "Transaction_Attributes_Extended.lifetime_order_revenue"
OPTED_IN = "Customer_Attributes.is_opted_into_email"


def two_sided_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def mann_whitney_z(x: Sequence[float], y: Sequence[float]) -> float:
    """U of ``x`` against ``y`` as a z score, with average ranks and the tie correction."""
    values = np.concatenate([np.asarray(x, float), np.asarray(y, float)])
    n1, n2 = len(x), len(y)
    n = n1 + n2
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(n)
    _, starts, counts = np.unique(sorted_values, return_index=True, return_counts=True)
    for start, count in zip(starts, counts, strict=True):
        ranks[order[start : start + count]] = start + (count + 1) / 2  # 1-based average rank
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    ties = float(np.sum(counts.astype(float) ** 3 - counts))
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    return (u - n1 * n2 / 2) / math.sqrt(variance)


def two_proportion_z(successes_a: int, n_a: int, successes_b: int, n_b: int) -> float:
    pooled = (successes_a + successes_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    return (successes_a / n_a - successes_b / n_b) / se


# --- the statistics themselves -----------------------------------------------------------------


def test_mann_whitney_u_matches_a_pairwise_count() -> None:
    x, y = [1.0, 2.0, 2.0, 5.0, 7.0], [2.0, 3.0, 3.0, 4.0]
    pairs = sum((a > b) + 0.5 * (a == b) for a in x for b in y)  # U by definition: 9.0
    n1, n2, n = 5, 4, 9
    ties = (3**3 - 3) + (2**3 - 2)  # three 2.0s, two 3.0s
    expected = (pairs - n1 * n2 / 2) / math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))

    assert pairs == 9.0
    assert mann_whitney_z(x, y) == pytest.approx(expected)
    assert mann_whitney_z(y, x) == pytest.approx(-expected)


def test_two_proportion_z_of_a_textbook_case() -> None:
    # 45/100 vs 30/100: pooled 0.375, se = sqrt(.375 * .625 * .02) = 0.068465
    assert two_proportion_z(45, 100, 30, 100) == pytest.approx(0.15 / 0.0684653, rel=1e-5)
    assert two_sided_p(1.959964) == pytest.approx(0.05, abs=1e-6)


# --- the split on demo data ------------------------------------------------------------------


@pytest.fixture(scope="module")
def customers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from herald.demo.generate import generate_demo_database

    path = tmp_path_factory.mktemp("balance") / "customers.duckdb"
    generate_demo_database(path, customers=20_000, seed=7, as_of=dt.date(2026, 6, 30))
    return path


def split(database: Path, percents: tuple[int, int]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Everyone split Treatment / Control by the real audience query; per group the lifetime
    revenue (NULL as 0: prospects) and the opt-in flag (NULL as false)."""
    campaign = parse_campaign(
        {
            "name": "Balance",
            "include": "Everyone",
            "remaining": {
                "groups": [
                    {"name": "Treatment", "percent": percents[0], "destinations": ["files"]},
                    {"name": "Control", "percent": percents[1], "control": True},
                ]
            },
        }
    )
    with create_engine("duckdb", database=database) as engine:
        ctx = AudienceContext(
            catalog=engine.catalog(),
            today=dt.date(2026, 6, 30),
            resolve_segment=lambda name: Segment(name, status="active"),
            salt=SALT,
        )
        table = engine.query(audience_query(campaign, ctx, [REVENUE, OPTED_IN]))
    assert table.num_rows == 20_000
    groups = np.asarray(table.column("group").to_pylist())
    revenue = np.asarray([float(v or 0) for v in table.column(REVENUE).to_pylist()])
    opted = np.asarray([bool(v) for v in table.column(OPTED_IN).to_pylist()])
    return {g: (revenue[groups == g], opted[groups == g]) for g in ("Treatment", "Control")}


@pytest.mark.parametrize("percents", [(50, 50), (90, 10)], ids=["50-50", "90-10"])
def test_control_and_treatment_are_balanced(customers: Path, percents: tuple[int, int]) -> None:
    groups = split(customers, percents)
    (rev_t, opt_t), (rev_c, opt_c) = groups["Treatment"], groups["Control"]

    assert (len(rev_t), len(rev_c)) == (20_000 * percents[0] // 100, 20_000 * percents[1] // 100)
    revenue_p = two_sided_p(mann_whitney_z(rev_t, rev_c))
    opt_in_p = two_sided_p(
        two_proportion_z(int(opt_t.sum()), len(opt_t), int(opt_c.sum()), len(opt_c))
    )
    assert revenue_p > ALPHA, f"lifetime revenue differs: p = {revenue_p:.5f}"
    assert opt_in_p > ALPHA, f"opt-in rate differs: p = {opt_in_p:.5f}"
    # The data is not degenerate: both traits vary.
    assert 0 < opt_t.mean() < 1
    assert rev_t.std() > 0


def test_the_checks_detect_an_unbalanced_split(customers: Path) -> None:
    """The same statistics reject a control group of the highest spenders."""
    groups = split(customers, (50, 50))
    revenue = np.concatenate([groups["Treatment"][0], groups["Control"][0]])
    opted = np.concatenate([groups["Treatment"][1], groups["Control"][1]])
    by_revenue = np.argsort(revenue, kind="mergesort")
    low, high = by_revenue[:10_000], by_revenue[10_000:]

    assert two_sided_p(mann_whitney_z(revenue[low], revenue[high])) < 1e-6
    by_opt_in = np.argsort(opted, kind="mergesort")
    a, b = by_opt_in[:10_000], by_opt_in[10_000:]
    assert (
        two_sided_p(two_proportion_z(int(opted[a].sum()), 10_000, int(opted[b].sum()), 10_000))
        < 1e-6
    )
