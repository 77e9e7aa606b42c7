"""The customer plan (who buys, how often, when and where) and ``Merged_Customers``.

The plan is a temporary table, one row per customer, that the order tables unnest and the
customer tables join; ``Merged_Customers`` holds the customers' PII, dirty on purpose.
"""

from __future__ import annotations

import datetime
import math

from herald.demo._values import (
    ACTIVE_TO_NOW_SHARE,
    EMAIL_MALFORMED,
    EMAIL_MISSING,
    EMAIL_OPT_IN,
    EMAIL_PADDED,
    EMAIL_SHARED,
    EMAIL_UPPER,
    LOYALTY_MEMBER,
    MAX_ORDERS_PER_CUSTOMER,
    ORDER_COUNT_SIGMA,
    PURCHASER_SHARE,
    SMS_OPT_IN,
    STORES,
    YEARS_OF_HISTORY,
)


def people_macros(seed: int, customers: int) -> list[str]:
    """Names and emails as functions of the customer index, so that a customer who shares an
    email can compute the other customer's address without a join."""
    # Email numbers are a bijection of the customer index modulo a power of ten (the multiplier
    # is coprime with 10), so every generated email is unique unless deliberately shared.
    email_modulus = 10 ** len(str(customers))
    return [
        """CREATE TEMP MACRO _gender(i) AS _pick_gender(_u(i, 'pii.gender'))""",
        """CREATE TEMP MACRO _given_name(i) AS
            CASE WHEN _gender(i) = 'F' THEN _pick_female_name(_u(i, 'pii.given'))
                 WHEN _gender(i) = 'M' THEN _pick_male_name(_u(i, 'pii.given'))
                 WHEN _u(i, 'pii.given.gender') < 0.5 THEN _pick_female_name(_u(i, 'pii.given'))
                 ELSE _pick_male_name(_u(i, 'pii.given')) END""",
        """CREATE TEMP MACRO _surname(i) AS _pick_surname(_u(i, 'pii.surname'))""",
        # Email local parts are ASCII: accents stripped, other letters dropped, 'user' if empty.
        """CREATE TEMP MACRO _ascii_name(s) AS
            regexp_replace(replace(replace(translate(lower(strip_accents(s)), 'øłđð', 'oldd'),
                                           'ß', 'ss'), 'æ', 'ae'), '[^a-z]', '', 'g')""",
        """CREATE TEMP MACRO _or_user(s) AS CASE WHEN s = '' THEN 'user' ELSE s END""",
        f"""CREATE TEMP MACRO _email_number(i) AS
            CAST((CAST(i AS BIGINT) * 7368787 + {seed % email_modulus}) % {email_modulus}
                 AS VARCHAR)""",
        # The local part takes ASCII names (see _ascii_name), in one of five common patterns.
        """CREATE TEMP MACRO _email_local(first, last, pattern) AS
            CASE pattern WHEN 0 THEN first || '.' || last
                         WHEN 1 THEN left(first, 1) || last
                         WHEN 2 THEN first || '_' || last
                         WHEN 3 THEN first
                         ELSE last || '.' || first END""",
        # Takes names already made ASCII: a macro argument is copied wherever it is used, and
        # _email_local uses each name several times.
        """CREATE TEMP MACRO _email_address(ascii_given, ascii_surname, i) AS
            _email_local(ascii_given, ascii_surname,
                         CAST(floor(_u(i, 'email.pattern') * 5) AS INTEGER))
            || _email_number(i) || '@' || _pick_email_domain(_u(i, 'email.domain'))""",
    ]


# --------------------------------------------------------------------------------------------
# Customer plan: who buys, how often, when and where (one row per customer, temporary)
# --------------------------------------------------------------------------------------------


def order_count_mu(mean_orders: float) -> float:
    """The lognormal ``mu`` for which ``min(cap, 1 + floor(exp(mu + sigma * Z)))`` has the mean.

    ``E[1 + floor(Y)] = 1 + sum over k >= 1 of P(Y >= k)``, solved by bisection so that the
    average number of orders per customer really is ``orders_per_customer``.
    """

    def expected(mu: float) -> float:
        total = 1.0
        for k in range(1, MAX_ORDERS_PER_CUSTOMER):
            total += 0.5 * math.erfc((math.log(k) - mu) / (ORDER_COUNT_SIGMA * math.sqrt(2)))
        return total

    if mean_orders <= 1.0001:
        return -50.0  # everyone buys exactly once
    low, high = -20.0, math.log(MAX_ORDERS_PER_CUSTOMER)
    if expected(high) <= mean_orders:
        return high
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if expected(middle) < mean_orders else (low, middle)
    return (low + high) / 2


def plan_sql(customers: int, seed: int, as_of: datetime.date, orders_per_customer: float) -> str:
    """The temporary ``_plan`` table: one row per customer, with its orders' count and window."""
    # Purchasers get at least one order, so with very few orders per customer there are fewer
    # purchasers; otherwise ~82 % purchase and the rest are prospects.
    purchaser_share = min(PURCHASER_SHARE, orders_per_customer)
    mean_orders = orders_per_customer / purchaser_share if purchaser_share > 0 else 1.0
    mu = order_count_mu(mean_orders)
    history_days = YEARS_OF_HISTORY * 365
    as_of_epoch = (as_of - datetime.date(1970, 1, 1)).days * 86400  # as_of 00:00 UTC
    return f"""
CREATE TEMP TABLE _plan AS
WITH drawn AS (
    SELECT
        i,
        _u(i, 'plan.purchaser') < {purchaser_share!r} AS is_purchaser,
        -- the customer's buying window: [start, end) in days before as_of
        1 + CAST(floor(_u(i, 'plan.start') * {history_days}) AS BIGINT) AS start_days_ago,
        _u(i, 'plan.buys_to_now') < {ACTIVE_TO_NOW_SHARE} AS buys_to_now,
        _u(i, 'plan.end') AS u_end,
        _normal(_u(i, 'plan.orders.1'), _u(i, 'plan.orders.2')) AS z_orders,
        _pick_channel_idx(_u(i, 'plan.channel')) AS channel_idx,
        _pick_brand_idx(_u(i, 'plan.brand')) AS brand_idx,
        1 + CAST(floor(_u(i, 'plan.store') * {STORES}) AS INTEGER) AS home_store
    FROM range({customers}) AS t(i)
), sized AS (
    SELECT
        *,
        CASE WHEN is_purchaser
             THEN CAST(least({MAX_ORDERS_PER_CUSTOMER},
                             1 + floor(exp({mu!r} + {ORDER_COUNT_SIGMA} * z_orders))) AS BIGINT)
             ELSE 0 END AS n_orders,
        -- lapsed buyers stop somewhere inside their window; end < start always (u_end < 1)
        CASE WHEN buys_to_now THEN 0
             ELSE CAST(floor(start_days_ago * u_end) AS BIGINT) END AS end_days_ago
    FROM drawn
)
SELECT
    i,
    _amperity_id(i) AS amperity_id,
    n_orders,
    CAST(sum(n_orders) OVER (ORDER BY i) - n_orders AS BIGINT) AS order_offset,
    DATE '{as_of.isoformat()}' - CAST(start_days_ago AS INTEGER) AS customer_since,
    {as_of_epoch} - start_days_ago * 86400 AS window_start_s,
    (start_days_ago - end_days_ago) * 86400 AS window_seconds,
    channel_idx,
    brand_idx,
    home_store,
    -- flags read by Customer_Attributes and Customer_360
    _u(i, 'flag.email_opt_in') < {EMAIL_OPT_IN} AS is_opted_into_email,
    _u(i, 'flag.sms_opt_in') < {SMS_OPT_IN} AS is_opted_into_sms,
    _u(i, 'flag.employee') < 0.005 AS is_employee,
    _u(i, 'flag.test_account') < 0.001 AS is_test_account,
    _u(i, 'flag.loyalty') < {LOYALTY_MEMBER} AS is_loyalty_member,
    CAST(floor(_u(i, 'flag.loyalty.points') * 250) AS INTEGER) AS bonus_points
FROM sized
"""


# --------------------------------------------------------------------------------------------
# Merged_Customers: PII, dirty on purpose
# --------------------------------------------------------------------------------------------

FULL_NAME = "nullif(concat_ws(' ', given_name, surname), '')"


def merged_customers_sql(customers: int) -> str:
    """``Merged_Customers``: one row of PII per customer, dirty on purpose."""
    # Long because it is one statement of four CTEs (draw, locate, dirty, project), each reading
    # the one before: kept whole, the SQL reads top to bottom in the order DuckDB runs it.
    birth_start = datetime.date(1940, 1, 1)
    birth_days = (datetime.date(2007, 12, 31) - birth_start).days + 1
    # Bands of one uniform number choose exactly one email condition per customer.
    missing = EMAIL_MISSING
    malformed = missing + EMAIL_MALFORMED
    shared = malformed + EMAIL_SHARED
    upper = shared + EMAIL_UPPER
    padded = upper + EMAIL_PADDED
    return f"""
CREATE TABLE Merged_Customers AS
WITH drawn AS (
    SELECT
        i,
        amperity_id,
        _gender(i) AS gender,
        _given_name(i) AS clean_given_name,
        _surname(i) AS clean_surname,
        _or_user(_ascii_name(_given_name(i))) AS ascii_given_name,
        _or_user(_ascii_name(_surname(i))) AS ascii_surname,
        _u(i, 'pii.given.quality') AS u_given,
        _u(i, 'pii.surname.quality') AS u_surname,
        _u(i, 'email.quality') AS u_email,
        (i + 1 + CAST(floor(_u(i, 'email.shared') * {max(customers - 1, 1)}) AS BIGINT))
            % {customers} AS email_owner,
        _u(i, 'phone.quality') AS u_phone,
        _u(i, 'address.quality') AS u_address,
        _pick_city_idx(_u(i, 'address.city')) AS city_idx,
        CASE WHEN _u(i, 'phone.area.local') < 0.8 THEN NULL
             ELSE _pick_area_code(_u(i, 'phone.area')) END AS other_area_code,
        CAST(200 + floor(_u(i, 'phone.exchange') * 800) AS INTEGER) AS phone_exchange,
        lpad(CAST(CAST(floor(_u(i, 'phone.line') * 10000) AS INTEGER) AS VARCHAR), 4, '0')
            AS phone_line
    FROM _plan  -- a table scans in parallel, and it holds the ids already
), located AS (
    SELECT
        *,
        _email_address(ascii_given_name, ascii_surname, i) AS own_email,
        coalesce(other_area_code, _city_area_code(city_idx)) AS area_code,
        CAST(1 + floor(_u(i, 'address.number') * 9899) AS INTEGER) || ' '
            || _pick_street(_u(i, 'address.street')) || ' '
            || _pick_street_suffix(_u(i, 'address.suffix')) AS street_address,
        CASE WHEN _u(i, 'address.line2') < 0.12 THEN
            _pick_address2_prefix(_u(i, 'address.line2.prefix'))
            || CASE WHEN _pick_address2_prefix(_u(i, 'address.line2.prefix')) = '#'
                    THEN '' ELSE ' ' END
            || CAST(1 + floor(_u(i, 'address.line2.number') * 450) AS INTEGER)
        END AS address_line2,
        _city_zip3(city_idx)
            || lpad(CAST(CAST(floor(_u(i, 'address.zip') * 100) AS INTEGER) AS VARCHAR), 2, '0')
            || CASE WHEN _u(i, 'address.zip4') < 0.03
                    THEN '-' || lpad(CAST(CAST(floor(_u(i, 'address.zip4.digits') * 10000)
                                               AS INTEGER) AS VARCHAR), 4, '0')
                    ELSE '' END AS zip
    FROM drawn
), people AS (
SELECT
    amperity_id,
    -- names: a few missing, a few typed in capitals or lower case
    CASE WHEN u_given < 0.005 THEN NULL
         WHEN u_given < 0.015 THEN upper(clean_given_name)
         WHEN u_given < 0.020 THEN lower(clean_given_name)
         ELSE clean_given_name END AS given_name,
    CASE WHEN u_surname < 0.003 THEN NULL
         WHEN u_surname < 0.010 THEN upper(clean_surname)
         ELSE clean_surname END AS surname,
    CASE WHEN u_email < {missing} THEN NULL
         WHEN u_email < {malformed} THEN
             CASE CAST(floor(_u(i, 'email.malformed') * 4) AS INTEGER)
                  WHEN 0 THEN replace(own_email, '@', '')       -- no @
                  WHEN 1 THEN replace(own_email, '@', '@@')     -- double @
                  WHEN 2 THEN own_email || '.'                  -- trailing dot
                  ELSE replace(own_email, '@', ' @') END        -- a space inside
         -- a household or a typo: another customer's (clean) email
         WHEN u_email < {shared} THEN
             _email_address(_or_user(_ascii_name(_given_name(email_owner))),
                            _or_user(_ascii_name(_surname(email_owner))), email_owner)
         WHEN u_email < {upper} THEN upper(own_email)
         WHEN u_email < {padded} THEN ' ' || own_email || '  '
         ELSE own_email END AS email,
    CASE WHEN u_phone < 0.10 THEN NULL
         WHEN u_phone < 0.15 THEN '(' || area_code || ') ' || phone_exchange || '-' || phone_line
         WHEN u_phone < 0.18 THEN area_code || '.' || phone_exchange || '.' || phone_line
         WHEN u_phone < 0.20 THEN area_code || '-' || phone_exchange || '-' || phone_line
         WHEN u_phone < 0.205 THEN '+44207946' || phone_line                -- London
         WHEN u_phone < 0.210 THEN '+4930' || phone_exchange || phone_line  -- Berlin
         WHEN u_phone < 0.212 THEN phone_exchange || '-' || phone_line      -- no area code
         ELSE '+1' || area_code || phone_exchange || phone_line END AS phone,
    -- about 2.5 % of addresses are incomplete (no street, city or postal code, or nothing)
    CASE WHEN u_address < 0.010 OR (u_address >= 0.015 AND u_address < 0.020) THEN NULL
         ELSE street_address END AS address,
    CASE WHEN u_address >= 0.010 THEN address_line2 END AS address2,
    CASE WHEN u_address < 0.010 OR (u_address >= 0.020 AND u_address < 0.025) THEN NULL
         ELSE _city_name(city_idx) END AS city,
    CASE WHEN u_address < 0.010 THEN NULL ELSE _city_state(city_idx) END AS state,
    CASE WHEN u_address < 0.015 THEN NULL ELSE zip END AS postal,
    CASE WHEN u_address < 0.010 THEN NULL
         WHEN _u(i, 'address.country') < 0.96 THEN 'US'
         WHEN _u(i, 'address.country') < 0.98 THEN 'USA'
         WHEN _u(i, 'address.country') < 0.99 THEN 'United States'
         ELSE NULL END AS country,
    CASE WHEN _u(i, 'pii.birthdate.missing') < 0.05 THEN NULL
         -- the mean of two uniforms: more customers born mid-range than in 1940 or 2007
         ELSE DATE '{birth_start.isoformat()}' + CAST(floor(
                  (_u(i, 'pii.birthdate.1') + _u(i, 'pii.birthdate.2')) / 2 * {birth_days})
                  AS INTEGER) END AS birthdate,
    gender,
    CASE WHEN _u(i, 'pii.company') < 0.03 THEN _pick_company(_u(i, 'pii.company.name'))
         END AS company
FROM located
)
SELECT
    amperity_id,
    given_name,
    surname,
    {FULL_NAME} AS full_name,
    email,
    phone,
    address,
    address2,
    city,
    state,
    postal,
    country,
    birthdate,
    gender,
    company
FROM people
"""
