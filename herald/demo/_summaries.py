"""Tables computed from the transactions, never drawn: ``Transaction_Attributes_Extended``,
``Customer_Attributes`` and ``Customer_360``."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from herald.demo._sql import literal, value_list
from herald.demo._values import BRANDS, CHANNELS, LOYALTY_TIERS


def counts_by(column: str, values: Sequence[str]) -> str:
    """A list of order counts per value, in the fixed order of ``values``."""
    return "[" + ", ".join(f"count(*) FILTER (WHERE {column} = {literal(v)})" for v in values) + "]"


def _per_customer_sql(day: str, channels: Sequence[str], brands: Sequence[str]) -> str:
    """The aggregates of each customer's orders that the attributes are derived from."""
    l12m = f"CAST({day} - INTERVAL 12 MONTH AS TIMESTAMP)"
    l30d = f"CAST({day} - INTERVAL 30 DAY AS TIMESTAMP)"
    return f"""
    SELECT
        amperity_id,
        sum(order_revenue) AS revenue,
        count(*) AS frequency,
        sum(order_quantity) AS total_items,
        coalesce(sum(order_revenue) FILTER (WHERE order_datetime >= {l12m}), 0) AS l12m_revenue,
        count(*) FILTER (WHERE order_datetime >= {l12m}) AS l12m_frequency,
        coalesce(sum(order_quantity) FILTER (WHERE order_datetime >= {l12m}), 0) AS l12m_items,
        coalesce(sum(order_revenue) FILTER (WHERE order_datetime >= {l30d}), 0) AS l30d_revenue,
        count(*) FILTER (WHERE order_datetime >= {l30d}) AS l30d_frequency,
        min(order_datetime, 2) AS first_two,
        max(order_datetime) AS latest,
        -- a customer's order datetimes are distinct (see orders_sql): no ties to break
        arg_min(purchase_channel, order_datetime) AS first_channel,
        arg_max(purchase_channel, order_datetime) AS latest_channel,
        arg_min(purchase_brand, order_datetime) AS first_brand,
        arg_max(purchase_brand, order_datetime) AS latest_brand,
        {counts_by("purchase_channel", channels)} AS channel_counts,
        {counts_by("purchase_brand", brands)} AS brand_counts
    FROM Unified_Transactions
    GROUP BY amperity_id
"""


def transaction_attributes_sql(as_of: datetime.date) -> str:
    """``Transaction_Attributes_Extended``: one row per purchaser, from its orders."""
    day = f"DATE '{as_of.isoformat()}'"
    channels = [c for c, _ in CHANNELS]
    brands = [b for b, _ in BRANDS]
    return f"""
CREATE TABLE Transaction_Attributes_Extended AS
WITH per_customer AS ({_per_customer_sql(day, channels, brands)})
SELECT
    amperity_id,
    CAST(revenue AS DECIMAL(38, 2)) AS lifetime_order_revenue,
    CAST(frequency AS INTEGER) AS lifetime_order_frequency,
    CAST(revenue / frequency AS DECIMAL(38, 2)) AS lifetime_average_order_value,
    CAST(total_items AS INTEGER) AS lifetime_total_items,
    CAST(l12m_revenue AS DECIMAL(38, 2)) AS l12m_order_revenue,
    CAST(l12m_frequency AS INTEGER) AS l12m_order_frequency,
    CAST(l12m_items AS INTEGER) AS l12m_total_items,
    CAST(l30d_revenue AS DECIMAL(38, 2)) AS l30d_order_revenue,
    CAST(l30d_frequency AS INTEGER) AS l30d_order_frequency,
    first_two[1] AS first_order_datetime,
    first_two[2] AS second_order_datetime,
    latest AS latest_order_datetime,
    CAST({day} - CAST(latest AS DATE) AS INTEGER) AS days_since_latest_order,
    first_channel AS first_order_channel,
    latest_channel AS latest_order_channel,
    first_brand AS first_order_brand,
    latest_brand AS latest_order_brand,
    -- most orders; ties go to the first value in the fixed list, never to scan order
    {value_list(channels)}[list_position(channel_counts, list_max(channel_counts))]
        AS lifetime_preferred_channel,
    {value_list(brands)}[list_position(brand_counts, list_max(brand_counts))]
        AS lifetime_preferred_brand,
    frequency = 1 AS one_and_done,
    len(list_filter(brand_counts, lambda n: n > 0)) > 1 AS multi_purchase_brand,
    len(list_filter(channel_counts, lambda n: n > 0)) > 1 AS multi_purchase_channel,
    coalesce(first_two[2] - first_two[1] <= INTERVAL 90 DAY, false) AS early_repeat_purchaser
FROM per_customer
"""


# --------------------------------------------------------------------------------------------
# Customer tables
# --------------------------------------------------------------------------------------------

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"


def customer_attributes_sql() -> str:
    """``Customer_Attributes``: contactability, opt-ins and lifecycle per customer."""
    complete_address = " AND ".join(
        f"coalesce(trim(m.{c}), '') <> ''" for c in ("address", "city", "state", "postal")
    )
    return f"""
CREATE TABLE Customer_Attributes AS
SELECT
    m.amperity_id,
    -- present, well-formed once trimmed, and opted in
    pl.is_opted_into_email
        AND coalesce(regexp_full_match(trim(m.email), '{EMAIL_PATTERN}'), false)
        AS contactable_email,
    pl.is_opted_into_sms AND m.phone IS NOT NULL AS contactable_phone,
    {complete_address} AS contactable_address,
    m.email IS NOT NULL OR m.phone IS NOT NULL AS contactable_paid_social,
    m.email IS NOT NULL OR m.phone IS NOT NULL OR m.address IS NOT NULL AS contactable_global,
    pl.is_opted_into_email,
    pl.is_opted_into_sms,
    t.amperity_id IS NOT NULL AS is_purchaser,
    t.amperity_id IS NULL AS is_prospect,
    pl.is_employee,
    pl.is_test_account,
    CASE WHEN t.amperity_id IS NULL THEN 'Prospect'
         WHEN t.days_since_latest_order <= 365 THEN 'Active'
         WHEN t.days_since_latest_order <= 730 THEN 'Lapsed'
         ELSE 'Dormant' END AS historical_purchaser_lifecycle_status
FROM Merged_Customers AS m
JOIN _plan AS pl ON pl.amperity_id = m.amperity_id
LEFT JOIN Transaction_Attributes_Extended AS t ON t.amperity_id = m.amperity_id
"""


def customer_360_sql() -> str:
    """``Customer_360``: the customer's PII with loyalty and order summaries."""
    tiers = "\n".join(
        f"                  WHEN coalesce(t.lifetime_order_revenue, 0) >= {minimum} "
        f"THEN {literal(tier)}"
        for tier, minimum in LOYALTY_TIERS
    )
    return f"""
CREATE TABLE Customer_360 AS
SELECT
    m.amperity_id,
    m.given_name,
    m.surname,
    m.full_name,
    m.email,
    m.phone,
    m.address,
    m.address2,
    m.city,
    m.state,
    m.postal,
    m.country,
    m.birthdate,
    m.gender,
    pl.customer_since,
    CASE WHEN pl.is_loyalty_member THEN CASE
{tiers}
             END END AS loyalty_tier,
    CASE WHEN pl.is_loyalty_member
         THEN CAST(floor(coalesce(t.lifetime_order_revenue, 0)) AS INTEGER) + pl.bonus_points
         END AS loyalty_points,
    pl.is_opted_into_email,
    CAST(coalesce(t.lifetime_order_revenue, 0) AS DECIMAL(38, 2)) AS lifetime_order_revenue,
    coalesce(t.lifetime_order_frequency, 0) AS lifetime_order_frequency,
    t.latest_order_datetime,
    t.lifetime_preferred_channel AS preferred_channel,
    t.lifetime_preferred_brand AS preferred_brand
FROM Merged_Customers AS m
JOIN _plan AS pl ON pl.amperity_id = m.amperity_id
LEFT JOIN Transaction_Attributes_Extended AS t ON t.amperity_id = m.amperity_id
"""
