"""Orders and line items: ``Unified_Transactions`` and ``Unified_Itemized_Transactions``.

Orders are the plan's customers unnested, line items the orders unnested; every value is a
function of the order index (and line number), so both tables agree without a join.
"""

from __future__ import annotations

from herald.demo._values import (
    CANCELLATION_SHARE,
    CHANNEL_HABIT,
    CHANNELS,
    ORDER_REVENUE_MEDIAN,
    PRODUCTS_PER_BRAND,
    RETURN_SHARE,
    STORES,
)


def item_macros() -> list[str]:
    """Line items as functions of (order index, line number, brand), shared by
    Unified_Transactions (which sums them) and Unified_Itemized_Transactions."""
    return [
        """CREATE TEMP MACRO _order_item_count(oi) AS
            CAST(least(12, 1 + floor(-2 * ln(1 - _u(oi, 'order.items')))) AS INTEGER)""",
        f"""CREATE TEMP MACRO _item_product(oi, line, brand_idx) AS
            (CAST(brand_idx AS BIGINT) - 1) * {PRODUCTS_PER_BRAND}
            + CAST(floor(_u2(oi, line, 'item.product') * {PRODUCTS_PER_BRAND}) AS BIGINT)""",
        """CREATE TEMP MACRO _product_category_idx(p) AS
            _pick_category_idx(_u(p, 'product.category'))""",
        # Unit prices end in .99, lognormal around the category's median price.
        """CREATE TEMP MACRO _product_unit_price(p) AS
            CAST(floor(_category_base_price(_product_category_idx(p))
                       * exp(0.45 * _normal(_u(p, 'product.price.1'), _u(p, 'product.price.2'))))
                 + 0.99 AS DECIMAL(18, 2))""",
        """CREATE TEMP MACRO _item_quantity(oi, line) AS
            CAST(_pick_item_quantity(_u2(oi, line, 'item.quantity')) AS INTEGER)""",
        """CREATE TEMP MACRO _item_discount_percent(oi, line) AS
            CASE WHEN _u2(oi, line, 'item.discounted') < 0.25
                 THEN _pick_discount_percent(_u2(oi, line, 'item.discount')) ELSE 0 END""",
        """CREATE TEMP MACRO _item_list_price(p, quantity) AS
            CAST(_product_unit_price(p) * quantity AS DECIMAL(18, 2))""",
        """CREATE TEMP MACRO _item_discount(list_price, percent) AS
            CAST(round(CAST(list_price AS DOUBLE) * percent / 100, 2) AS DECIMAL(18, 2))""",
        f"""CREATE TEMP MACRO _item_is_return(oi, line) AS
            _u2(oi, line, 'item.return') < {RETURN_SHARE}""",
    ]


def orders_sql() -> str:
    """One row per order, with the indexes the line items need; used by both order tables."""
    store = 1 + [c for c, _ in CHANNELS].index("Store")
    return f"""
WITH expanded AS (
    SELECT p.*, unnest(range(p.n_orders)) AS k FROM _plan AS p
), indexed AS (
    SELECT
        amperity_id, order_offset + k AS oi, k, window_start_s,
        window_seconds // n_orders AS slot_seconds,
        channel_idx AS usual_channel_idx, brand_idx AS usual_brand_idx, home_store
    FROM expanded
), drawn AS (
    SELECT
        amperity_id,
        oi,
        -- Whole seconds inside the customer's window, which ends at or before as_of 00:00.
        -- Order k falls at a random point of the k-th of n equal slots of the window (at least
        -- 43 s each), so a customer's orders have distinct, increasing datetimes and order ids:
        -- "first" and "latest" never need a tie-break.
        make_timestamp((window_start_s + k * slot_seconds
                        + CAST(floor(_u(oi, 'order.time') * slot_seconds) AS BIGINT))
                       * 1000000) AS order_datetime,
        CASE WHEN _u(oi, 'order.channel.habit') < {CHANNEL_HABIT} THEN usual_channel_idx
             ELSE _pick_channel_idx(_u(oi, 'order.channel')) END AS channel_idx,
        CASE WHEN _u(oi, 'order.brand.habit') < {CHANNEL_HABIT} THEN usual_brand_idx
             ELSE _pick_brand_idx(_u(oi, 'order.brand')) END AS brand_idx,
        CASE WHEN _u(oi, 'order.store.habit') < 0.75 THEN home_store
             ELSE 1 + CAST(floor(_u(oi, 'order.store') * {STORES}) AS INTEGER) END
            AS store_number,
        _order_item_count(oi) AS n_items
    FROM indexed
)
SELECT
    amperity_id,
    oi,
    printf('ORD%010d', oi + 1) AS order_id,
    order_datetime,
    channel_idx,
    brand_idx,
    n_items,
    _channel_name(channel_idx) AS purchase_channel,
    _brand_name(brand_idx) AS purchase_brand,
    CASE WHEN channel_idx = {store} THEN _store_code(store_number) END AS store_id,
    CASE WHEN channel_idx = {store} AND _u(oi, 'order.cash') < 0.15 THEN 'Cash'
         ELSE _pick_payment_method(_u(oi, 'order.payment')) END AS payment_method
FROM drawn
"""


def unified_transactions_sql(items: bool) -> str:
    """``Unified_Transactions``: one row per order, priced from its lines when ``items``."""
    if items:
        # Order totals are sums of the order's non-return lines, read back from the line items
        # written just before (grouped on the integer order index, which is dropped afterwards).
        # Computing the lines twice, here inside a list lambda, was three times slower.
        source = """
totals AS (
    SELECT
        oi,
        sum(item_revenue) FILTER (WHERE NOT is_return) AS revenue,
        sum(item_quantity) FILTER (WHERE NOT is_return) AS quantity,
        sum(item_discount_amount) FILTER (WHERE NOT is_return) AS discount
    FROM Unified_Itemized_Transactions
    GROUP BY oi
), priced AS (
    -- every order has at least one line, so the inner join keeps every order; totals first,
    -- because DuckDB underestimates the unnested orders and would build on their strings
    SELECT o.*, t.revenue, t.quantity, t.discount
    FROM totals AS t
    JOIN orders AS o ON o.oi = t.oi
)"""
    else:
        source = f"""
drawn AS (
    SELECT
        *,
        round({ORDER_REVENUE_MEDIAN} * exp(0.7 * _normal(_u(oi, 'order.revenue.1'),
                                                        _u(oi, 'order.revenue.2'))), 2)
            AS gross,
        CASE WHEN _u(oi, 'order.discounted') < 0.25
             THEN _pick_discount_percent(_u(oi, 'order.discount')) ELSE 0 END
            AS discount_percent
    FROM orders
), priced AS (
    SELECT
        *,
        gross AS revenue,
        n_items AS quantity,
        round(gross * discount_percent / (100 - discount_percent), 2) AS discount
    FROM drawn
)"""
    return f"""
CREATE TABLE Unified_Transactions AS
WITH orders AS ({orders_sql()}),
{source}
SELECT
    amperity_id,
    order_id,
    order_datetime,
    CAST(coalesce(revenue, 0) AS DECIMAL(38, 2)) AS order_revenue,
    CAST(coalesce(quantity, 0) AS INTEGER) AS order_quantity,
    CAST(coalesce(discount, 0) AS DECIMAL(38, 2)) AS order_discount_amount,
    purchase_channel,
    purchase_brand,
    store_id,
    'USD' AS currency,
    payment_method
FROM priced
"""


def itemized_transactions_sql() -> str:
    """``Unified_Itemized_Transactions``: one row per order line."""
    # Keeps the order index ``oi`` for Unified_Transactions' totals; dropped afterwards.
    return f"""
CREATE TABLE Unified_Itemized_Transactions AS
WITH orders AS ({orders_sql()}),
lines AS (
    SELECT *, unnest(range(n_items)) AS j FROM orders
), drawn AS (
    SELECT
        *,
        _item_product(oi, j, brand_idx) AS p,
        _item_quantity(oi, j) AS quantity,
        _item_discount_percent(oi, j) AS percent,
        _item_is_return(oi, j) AS is_return
    FROM lines
), listed AS (
    SELECT
        *,
        _item_list_price(p, quantity) AS list_price,
        _product_category_idx(p) AS category_idx
    FROM drawn
), priced AS (
    SELECT *, _item_discount(list_price, percent) AS discount FROM listed
)
SELECT
    amperity_id,
    order_id,
    order_datetime,
    CAST(j + 1 AS INTEGER) AS order_line_number,
    _product_code(p + 1) AS product_id,
    _category_name(category_idx) AS product_category,
    _subcategory(category_idx, _u(p, 'product.subcategory')) AS product_subcategory,
    quantity AS item_quantity,
    CAST(list_price - discount AS DECIMAL(38, 2)) AS item_revenue,
    CAST(list_price AS DECIMAL(38, 2)) AS item_list_price,
    CAST(discount AS DECIMAL(38, 2)) AS item_discount_amount,
    is_return,
    NOT is_return AND _u2(oi, j, 'item.cancellation') < {CANCELLATION_SHARE} AS is_cancellation,
    purchase_brand,
    purchase_channel,
    oi
FROM priced
"""
