"""Change some demo customers, so a second campaign run shows an incremental sync.

Some customers become employees (the example campaign excludes employees through the
"Do Not Contact" segment, so they are removed from their lists) and some employees leave
the company (they may join a list). Deterministic for a seed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from herald.engines.duckdb import connect_utc

TABLE = "Customer_Attributes"
"""The table churn changes."""


@dataclass(frozen=True)
class Churn:
    """How many customers changed."""

    became_employees: int
    left_company: int


def churn_customers(path: str | os.PathLike[str], *, share: float = 0.02, seed: int = 1) -> Churn:
    """Flip ``is_employee`` for about ``share`` of customers (and half the employees back).

    The database must not be open elsewhere in this process (DuckDB allows one writer).
    """
    if not 0 < share < 1:
        msg = f"share must be between 0 and 1, got {share}"
        raise ValueError(msg)
    threshold = int(share * 10_000)
    with connect_utc(str(path)) as con:
        joined = con.execute(
            f"UPDATE {TABLE} SET is_employee = true "
            "WHERE NOT is_employee AND hash(amperity_id, $seed) % 10000 < $threshold",
            {"seed": seed, "threshold": threshold},
        ).fetchall()[0][0]
        left = con.execute(
            f"UPDATE {TABLE} SET is_employee = false "
            "WHERE is_employee AND hash(amperity_id, $seed + 1) % 2 = 0 "
            "AND NOT hash(amperity_id, $seed) % 10000 < $threshold",
            {"seed": seed, "threshold": threshold},
        ).fetchall()[0][0]
    return Churn(int(joined), int(left))
