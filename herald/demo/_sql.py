"""SQL text helpers and the temporary macros every demo table draws from.

The random primitives hash ``(key, seed, purpose)`` so that a value never depends on how
DuckDB schedules threads; the value-list macros map a uniform number to one list entry.
None of these macros is stored in the file: they are ``TEMP``.
"""

from __future__ import annotations

from collections.abc import Sequence

from herald.demo._values import (
    ADDRESS2_PREFIXES,
    BRANDS,
    CATEGORIES,
    CHANNELS,
    CITIES,
    COMPANIES,
    DISCOUNT_PERCENTS,
    EMAIL_DOMAINS,
    FEMALE_NAMES,
    GENDERS,
    ITEM_QUANTITIES,
    MALE_NAMES,
    PAYMENT_METHODS,
    PRODUCTS_PER_BRAND,
    STORES,
    STREET_SUFFIXES,
    STREETS,
    SURNAMES,
)


def literal(value: str | int | float | None) -> str:
    """One SQL literal (the value lists above are ours, but names contain quotes: O'Brien)."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def value_list(values: Sequence[str | int | float | None]) -> str:
    return "[" + ", ".join(literal(v) for v in values) + "]"


def slots(weighted: Sequence[tuple[object, int]]) -> list[int]:
    """1-based indexes repeated by weight: a uniform pick among slots is a weighted pick."""
    return [index for index, (_, weight) in enumerate(weighted, start=1) for _ in range(weight)]


def pick_macro(name: str, values: Sequence[str | int | float | None]) -> str:
    """A macro mapping a uniform number in [0, 1) to one of ``values``, all equally likely."""
    return (
        f"CREATE TEMP MACRO {name}(u) AS "
        f"({value_list(values)})[1 + CAST(floor(u * {len(values)}) AS BIGINT)]"
    )


def lookup_macro(name: str, values: Sequence[str | int | float | None]) -> str:
    """A macro mapping a 1-based index to one of ``values``."""
    return f"CREATE TEMP MACRO {name}(idx) AS ({value_list(values)})[idx]"


def primitive_macros(seed: int) -> list[str]:
    """The random primitives (``_u``, ``_u2``, ``_normal``) and the customer id."""
    return [
        # Uniform [0, 1) from the top 53 bits of a hash of (key, seed, purpose). hash() is
        # deterministic for a given DuckDB version, unlike random() under parallel execution.
        # The outer hash() is needed: DuckDB combines the hashes of several arguments with a
        # final XOR, so without it two purposes for one key give strongly correlated numbers.
        f"""CREATE TEMP MACRO _u(k, purpose) AS
            CAST(hash(hash(CAST(k AS BIGINT), CAST({seed} AS BIGINT), purpose)) >> 11 AS DOUBLE)
            * 1.1102230246251565e-16""",
        f"""CREATE TEMP MACRO _u2(k, j, purpose) AS
            CAST(hash(hash(CAST(k AS BIGINT), CAST(j AS BIGINT), CAST({seed} AS BIGINT), purpose))
                 >> 11 AS DOUBLE) * 1.1102230246251565e-16""",
        # Standard normal from two uniforms (Box-Muller).
        "CREATE TEMP MACRO _normal(u1, u2) AS sqrt(-2 * ln(1 - u1)) * cos(2 * pi() * u2)",
        # UUID v4 layout (8-4-4-4-12, version nibble 4, variant 8-b) from an md5 of seed and index.
        """CREATE TEMP MACRO _uuid_from_md5(h) AS
            substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-'
            || substr('89ab', 1 + (strpos('0123456789abcdef', substr(h, 17, 1)) - 1) % 4, 1)
            || substr(h, 18, 3) || '-' || substr(h, 21, 12)""",
        f"""CREATE TEMP MACRO _amperity_id(i) AS
            _uuid_from_md5(md5('herald-demo:{seed}:' || CAST(i AS VARCHAR)))""",
    ]


def value_macros() -> list[str]:
    """One pick or lookup macro per value list of `herald.demo._values`."""
    categories = [c for c, _, _, _ in CATEGORIES]
    subcategories = "[" + ", ".join(value_list(s) for _, _, _, s in CATEGORIES) + "]"
    return [
        pick_macro("_pick_female_name", FEMALE_NAMES),
        pick_macro("_pick_male_name", MALE_NAMES),
        pick_macro("_pick_surname", SURNAMES),
        pick_macro("_pick_gender", [GENDERS[k - 1][0] for k in slots(GENDERS)]),
        pick_macro("_pick_email_domain", [EMAIL_DOMAINS[k - 1][0] for k in slots(EMAIL_DOMAINS)]),
        pick_macro("_pick_city_idx", slots([(c[0], c[4]) for c in CITIES])),
        lookup_macro("_city_name", [c[0] for c in CITIES]),
        lookup_macro("_city_state", [c[1] for c in CITIES]),
        lookup_macro("_city_area_code", [c[2] for c in CITIES]),
        lookup_macro("_city_zip3", [c[3] for c in CITIES]),
        pick_macro("_pick_area_code", sorted({c[2] for c in CITIES})),
        pick_macro("_pick_street", STREETS),
        pick_macro(
            "_pick_street_suffix", [STREET_SUFFIXES[k - 1][0] for k in slots(STREET_SUFFIXES)]
        ),
        pick_macro("_pick_address2_prefix", ADDRESS2_PREFIXES),
        pick_macro("_pick_company", COMPANIES),
        pick_macro("_pick_channel_idx", slots(CHANNELS)),
        lookup_macro("_channel_name", [c for c, _ in CHANNELS]),
        pick_macro("_pick_brand_idx", slots(BRANDS)),
        lookup_macro("_brand_name", [b for b, _ in BRANDS]),
        pick_macro(
            "_pick_payment_method", [PAYMENT_METHODS[k - 1][0] for k in slots(PAYMENT_METHODS)]
        ),
        pick_macro("_pick_category_idx", slots([(c, w) for c, w, _, _ in CATEGORIES])),
        lookup_macro("_category_name", categories),
        lookup_macro("_category_base_price", [p for _, _, p, _ in CATEGORIES]),
        f"""CREATE TEMP MACRO _subcategory(cat, u) AS
            ({subcategories})[cat][1 + CAST(floor(u * len(({subcategories})[cat])) AS BIGINT)]""",
        pick_macro(
            "_pick_item_quantity", [ITEM_QUANTITIES[k - 1][0] for k in slots(ITEM_QUANTITIES)]
        ),
        pick_macro("_pick_discount_percent", DISCOUNT_PERCENTS),
        # Codes looked up in a list: printf() on 25 million rows costs seconds.
        lookup_macro(
            "_product_code",
            [f"SKU-{p:05d}" for p in range(1, len(BRANDS) * PRODUCTS_PER_BRAND + 1)],
        ),
        lookup_macro("_store_code", [f"ST{n:04d}" for n in range(1, STORES + 1)]),
    ]
