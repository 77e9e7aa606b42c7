"""Simulate a campaign's effect in the demo data, so that its measured lift has a known truth.

After a campaign ran, its recipients logs say who was treated and who was held out. For each
recipient (once, in their first run's group, as pooled results count them) this adds to
``Unified_Transactions`` at most one order in the window after their launch date (or delivery
date): a recipient buys with a probability ``p`` drawn from their own purchase history, times
``1 + uplift`` in a treatment group; control recipients buy with ``p`` alone. The split is
random, so the true relative lift in conversion is ``uplift``, exactly in expectation.

Every draw hashes ``(customer key, seed, purpose)``, as the generator does, so the same seed
gives the same orders. Simulated orders have ids starting with :data:`ORDER_PREFIX`; a new
simulation (or :func:`clear_effect`) removes the previous one's. The window must lie after the
data's last real order, so that only simulated orders fall in it: real ones would dilute the
lift. Only ``Unified_Transactions`` changes (no line items, no summary tables).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from herald.engines.duckdb import connect_utc, sql_identifier, sql_string
from herald.exceptions import ConfigError

ORDER_PREFIX = "SIM-"
"""The order id prefix of simulated orders."""
TABLE = "Unified_Transactions"
MAX_PROPENSITY = 0.5
"""A recipient's chance to buy in the window is capped here, so that ``p (1 + uplift)`` stays
a probability for any uplift up to 1."""
FLOOR = 0.02
"""Everyone may buy: a customer without history still has this chance."""


@dataclass(frozen=True)
class Effect:
    """What :func:`simulate_effect` added.

    Attributes:
        uplift: the relative uplift in conversion given to the treated recipients.
        window_days: the window after each recipient's start.
        start: the earliest window start (00:00 UTC).
        end: the latest window end (exclusive): results measured as of then see it all.
        recipients: recipients simulated (each customer once).
        treated: of them, in a treatment group.
        orders: simulated orders added (one per buyer).
    """

    uplift: float
    window_days: int
    start: dt.datetime
    end: dt.datetime
    recipients: int
    treated: int
    orders: int


def simulate_effect(
    path: str | os.PathLike[str],
    logs: Sequence[Path],
    *,
    uplift: float,
    window_days: int = 30,
    seed: int = 42,
    key: str = "amperity_id",
) -> Effect:
    """Add simulated orders after the launch: treated recipients buy with ``uplift``.

    The database must not be open elsewhere in this process (DuckDB allows one writer).

    Args:
        path: the demo database.
        logs: the campaign's recipients logs (Parquet), one per run.
        uplift: relative uplift in conversion of the treated, from -0.9 to 1 (0.15: +15 %).
        window_days: the window after each recipient's start in which they may buy.
        seed: the same seed, the same orders.
        key: the customer key column.

    Raises:
        ConfigError: a value out of range, no log, or a window starting before the data's
            last real order.
    """
    _validate(logs, uplift, window_days)
    with connect_utc(str(path)) as con:
        con.execute(f"DELETE FROM {TABLE} WHERE starts_with(order_id, {sql_string(ORDER_PREFIX)})")
        con.execute(_recipients_sql(logs, sql_identifier(key)))
        start = _check_after_last_order(con)
        con.execute(_orders_sql(sql_identifier(key), uplift, window_days, seed))
        con.execute(f"INSERT INTO {TABLE} BY NAME SELECT * EXCLUDE (is_control) FROM _simulated")
        counts = con.execute(
            "SELECT (SELECT count(*) FROM _recipients), "
            "(SELECT count(*) FROM _recipients WHERE NOT is_control), "
            "(SELECT count(*) FROM _simulated), (SELECT max(start) FROM _recipients)"
        ).fetchone()
    assert counts is not None
    recipients, treated, orders, last = counts
    window = dt.timedelta(days=window_days)
    return Effect(uplift, window_days, start, _utc(last) + window, recipients, treated, orders)


def clear_effect(path: str | os.PathLike[str]) -> int:
    """Remove every simulated order; return how many there were."""
    with connect_utc(str(path)) as con:
        row = con.execute(
            f"DELETE FROM {TABLE} WHERE starts_with(order_id, {sql_string(ORDER_PREFIX)})"
        ).fetchone()
    return int(row[0]) if row else 0


def _validate(logs: Sequence[Path], uplift: float, window_days: int) -> None:
    problem = None
    if not logs:
        problem = "no recipients log to simulate an effect for: run the campaign first"
    elif not -0.9 <= uplift <= 1:
        problem = f"uplift must be between -0.9 and 1 (0.15 is +15 %), not {uplift}"
    elif not 1 <= window_days <= 3660:
        problem = f"the effect's window must be 1 to 3660 days, not {window_days}"
    if problem:
        raise ConfigError(problem)


def _recipients_sql(logs: Sequence[Path], key: str) -> str:
    """Each customer once, in their first run (earliest delivery), treated unless only in
    control groups there, from that run's start: as pooled results count them."""
    files = ", ".join(sql_string(str(p)) for p in logs)
    return f"""
        CREATE TEMP TABLE _recipients AS
        SELECT {key}, bool_and(is_control) AS is_control, min(start) AS start
        FROM (
            SELECT {key}, is_control,
                   CAST(coalesce(launch_date, CAST(delivered_at AS DATE)) AS TIMESTAMP) AS start,
                   dense_rank() OVER (PARTITION BY {key} ORDER BY delivered_at, run_id) AS nth
            FROM read_parquet([{files}], union_by_name = true)
        )
        WHERE nth = 1
        GROUP BY {key}
    """


def _check_after_last_order(con: duckdb.DuckDBPyConnection) -> dt.datetime:
    row = con.execute(
        f"SELECT (SELECT min(start) FROM _recipients), (SELECT max(order_datetime) FROM {TABLE})"
    ).fetchone()
    assert row is not None
    start, last = row
    if start is None:
        msg = "the recipients logs hold no recipient to simulate an effect for"
        raise ConfigError(msg)
    if last is not None and last >= start:
        msg = (
            f"the campaign's window starts on {start:%Y-%m-%d}, before the data's last order "
            f"({last:%Y-%m-%d}): simulate an effect for a launch after the data's as-of date"
        )
        raise ConfigError(msg)
    return _utc(start)


def _orders_sql(key: str, uplift: float, window_days: int, seed: int) -> str:
    """One order per simulated buyer, in ``_simulated``."""

    def uniform(purpose: str) -> str:
        # Uniform [0, 1) from the top 53 bits of a hash, as the generator's ``_u`` macro.
        return (
            f"CAST(hash(hash(r.{key}, CAST({int(seed)} AS BIGINT), '{purpose}')) >> 11 AS DOUBLE)"
            " * 1.1102230246251565e-16"
        )

    # A customer's chance to buy in the window: their order rate over the data's span.
    return f"""
        CREATE TEMP TABLE _simulated AS
        WITH span AS (
            SELECT greatest(1, date_diff('day', min(order_datetime), max(order_datetime))) AS days
            FROM {TABLE}
        ), history AS (
            SELECT {key}, count(*) AS n, avg(order_revenue) AS aov
            FROM {TABLE} WHERE {key} IN (SELECT {key} FROM _recipients)
            GROUP BY {key}
        ), chances AS (
            SELECT r.{key}, r.is_control, r.start, coalesce(h.aov, 0) AS aov,
                   least({MAX_PROPENSITY}, {FLOOR} + 1 - exp(-coalesce(h.n, 0) * {window_days}
                         / (SELECT days FROM span))) AS p,
                   {uniform("effect.buy")} AS u_buy,
                   {uniform("effect.when")} AS u_when,
                   {uniform("effect.revenue")} AS u_revenue
            FROM _recipients r LEFT JOIN history h ON h.{key} = r.{key}
        )
        SELECT {key}, is_control,
               {sql_string(ORDER_PREFIX)}
                   || lpad(CAST(row_number() OVER (ORDER BY {key}) AS VARCHAR), 10, '0')
                   AS order_id,
               start + to_seconds(CAST(floor(u_when * {window_days * 86_400}) AS BIGINT))
                   AS order_datetime,
               CAST(round(greatest(aov, 20) * (0.5 + u_revenue), 2) AS DECIMAL(38, 2))
                   AS order_revenue,
               1 AS order_quantity,
               CAST(0 AS DECIMAL(38, 2)) AS order_discount_amount,
               'USD' AS currency
        FROM chances
        WHERE u_buy < p * CASE WHEN is_control THEN 1 ELSE {1 + uplift!r} END
    """


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment
