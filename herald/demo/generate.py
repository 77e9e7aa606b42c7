"""Generate a synthetic customer 360 database (DuckDB) with Amperity's standard tables.

The database is built entirely inside DuckDB with SQL: customers are ``range(customers)`` (kept
in a temporary plan table), orders are the customers' rows unnested, line items are the orders'
rows unnested. Every pseudo-random value is derived from ``hash(row_index, seed, 'purpose')``
(never from ``random()``, whose sequence depends on how DuckDB schedules threads), so the same
seed, as-of date and sizes give the same table contents on every run. The summary tables
(``Transaction_Attributes_Extended`` and the summary columns of ``Customer_360``) are computed
from the transactions, never drawn.

The data is deliberately dirty in the ways real customer data is: missing, malformed, shared and
oddly cased emails, phones in national and international formats, incomplete addresses,
non-ASCII names, missing birthdates and genders.
"""

from __future__ import annotations

import datetime
import math
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import duckdb

from herald.engines.duckdb import connect_utc
from herald.exceptions import ConfigError

__all__ = ["TABLES", "DemoSummary", "generate_demo_database"]

#: The tables written, in the order they are created.
TABLES: tuple[str, ...] = (
    "Merged_Customers",
    "Unified_Itemized_Transactions",
    "Unified_Transactions",
    "Transaction_Attributes_Extended",
    "Customer_Attributes",
    "Customer_360",
)

# --------------------------------------------------------------------------------------------
# Shape of the data. Shares are fractions of all customers unless said otherwise.
# --------------------------------------------------------------------------------------------

YEARS_OF_HISTORY = 5
PURCHASER_SHARE = 0.82  # the other ~18 % are prospects, with no order
ORDER_COUNT_SIGMA = 1.4  # lognormal spread of orders per purchaser: most 1-10, a few hundreds
MAX_ORDERS_PER_CUSTOMER = 2_000
ACTIVE_TO_NOW_SHARE = 0.55  # purchasers still buying at as_of; the others stopped at some point
CHANNEL_HABIT = 0.65  # chance an order uses the customer's usual channel (same for brand)
PRODUCTS_PER_BRAND = 400
STORES = 150
RETURN_SHARE = 0.05
CANCELLATION_SHARE = 0.01
ORDER_REVENUE_MEDIAN = 63.0  # items=False only: lognormal (sigma 0.7) order revenue, mean ~ $80

EMAIL_MISSING = 0.03
EMAIL_MALFORMED = 0.01
EMAIL_SHARED = 0.005
EMAIL_UPPER = 0.02
EMAIL_PADDED = 0.01
EMAIL_OPT_IN = 0.65
SMS_OPT_IN = 0.30
LOYALTY_MEMBER = 0.40

# --------------------------------------------------------------------------------------------
# Small value lists. Weighted lists are (value, weight) pairs, expanded into slots in SQL.
# --------------------------------------------------------------------------------------------

# fmt: off

FEMALE_NAMES: tuple[str, ...] = (
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah",
    "Karen", "Lisa", "Nancy", "Betty", "Sandra", "Margaret", "Ashley", "Kimberly", "Emily",
    "Donna", "Michelle", "Carol", "Amanda", "Melissa", "Deborah", "Stephanie", "Rebecca", "Laura",
    "Sharon", "Cynthia", "Kathleen", "Amy", "Angela", "Anna", "Brenda", "Emma", "Olivia", "Sophia",
    "Isabella", "Mia", "Ava", "Nicole", "Hannah", "Grace", "Natalie", "Camila", "Valentina",
    "Chloé", "Zoë", "Renée", "Siobhán", "María", "Lucía", "Sofía", "Léa", "Ingrid", "Aoife",
    "Priya", "Aisha", "Fatima", "Mei", "Yuki", "Ananya", "Ximena", "Guadalupe", "Keisha",
    "Latoya", "Anne-Marie", "Mary Kate", "芳", "秀英",
)
MALE_NAMES: tuple[str, ...] = (
    "James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas",
    "Charles", "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Paul",
    "Andrew", "Joshua", "Kevin", "Brian", "George", "Timothy", "Ronald", "Jason", "Edward",
    "Jeffrey", "Ryan", "Jacob", "Gary", "Nicholas", "Eric", "Jonathan", "Justin", "Scott",
    "Brandon", "Benjamin", "Samuel", "Noah", "Liam", "Ethan", "José", "Luis", "Carlos", "Juan",
    "Mateo", "Santiago", "Diego", "Andrés", "Jürgen", "Björn", "François", "Søren", "Seán",
    "Dmitri", "Wei", "Hiroshi", "Raj", "Mohammed", "Omar", "Kwame", "Tyrone", "DeShawn", "Ahmed",
    "Jean-Luc", "伟", "强",
)
SURNAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gómez", "Phillips", "Evans",
    "Turner", "Díaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
    "Morales", "Murphy", "Cook", "Rogers", "Gutiérrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson",
    "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price",
    "Álvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jiménez",
    "Müller", "Schmidt", "Schröder", "O'Brien", "O'Connor", "D'Angelo", "McDonald", "MacLeod",
    "Kowalski", "Nowak", "Wiśniewski", "Søndergaard", "Åberg", "Núñez", "Peña", "Ng", "Wang",
    "Zhang", "Chen", "Liu", "Yamamoto", "Tanaka", "Sato", "Kumar", "Singh", "Khan", "Okafor",
    "Van der Berg", "De la Cruz", "Smith-Jones", "李", "王", "张", "김",
)
GENDERS: tuple[tuple[str | None, int], ...] = (("F", 49), ("M", 44), ("X", 1), (None, 6))
EMAIL_DOMAINS: tuple[tuple[str, int], ...] = (
    ("gmail.com", 42), ("yahoo.com", 14), ("hotmail.com", 9), ("outlook.com", 8),
    ("icloud.com", 8), ("aol.com", 4), ("comcast.net", 3), ("msn.com", 2), ("live.com", 2),
    ("protonmail.com", 2), ("me.com", 2), ("att.net", 2), ("btinternet.co.uk", 1), ("gmx.de", 1),
)
# (city, state, area code, first three ZIP digits, weight ~ share of US population in 1/1000)
CITIES: tuple[tuple[str, str, str, str, int], ...] = (
    ("Los Angeles", "CA", "213", "900", 40), ("San Diego", "CA", "619", "921", 15),
    ("San Jose", "CA", "408", "951", 10), ("San Francisco", "CA", "415", "941", 10),
    ("Sacramento", "CA", "916", "958", 10), ("Fresno", "CA", "559", "937", 8),
    ("Oakland", "CA", "510", "946", 7), ("Long Beach", "CA", "562", "908", 6),
    ("Irvine", "CA", "949", "926", 7), ("Riverside", "CA", "951", "925", 7),
    ("Houston", "TX", "713", "770", 30), ("Dallas", "TX", "214", "752", 22),
    ("San Antonio", "TX", "210", "782", 15), ("Austin", "TX", "512", "787", 15),
    ("El Paso", "TX", "915", "799", 8), ("Miami", "FL", "305", "331", 20),
    ("Tampa", "FL", "813", "336", 15), ("Orlando", "FL", "407", "328", 15),
    ("Jacksonville", "FL", "904", "322", 12), ("Tallahassee", "FL", "850", "323", 5),
    ("New York", "NY", "212", "100", 40), ("Brooklyn", "NY", "718", "112", 10),
    ("Buffalo", "NY", "716", "142", 5), ("Rochester", "NY", "585", "146", 4),
    ("Philadelphia", "PA", "215", "191", 22), ("Pittsburgh", "PA", "412", "152", 17),
    ("Chicago", "IL", "312", "606", 32), ("Springfield", "IL", "217", "627", 6),
    ("Columbus", "OH", "614", "432", 14), ("Cleveland", "OH", "216", "441", 12),
    ("Cincinnati", "OH", "513", "452", 9), ("Atlanta", "GA", "404", "303", 28),
    ("Savannah", "GA", "912", "314", 5), ("Charlotte", "NC", "704", "282", 18),
    ("Raleigh", "NC", "919", "276", 14), ("Detroit", "MI", "313", "482", 18),
    ("Grand Rapids", "MI", "616", "495", 12), ("Newark", "NJ", "973", "071", 15),
    ("Jersey City", "NJ", "201", "073", 13), ("Virginia Beach", "VA", "757", "234", 10),
    ("Richmond", "VA", "804", "232", 8), ("Arlington", "VA", "703", "222", 8),
    ("Seattle", "WA", "206", "981", 15), ("Spokane", "WA", "509", "992", 4),
    ("Tacoma", "WA", "253", "984", 4), ("Phoenix", "AZ", "602", "850", 16),
    ("Tucson", "AZ", "520", "857", 6), ("Nashville", "TN", "615", "372", 12),
    ("Memphis", "TN", "901", "381", 9), ("Boston", "MA", "617", "021", 15),
    ("Worcester", "MA", "508", "016", 6), ("Indianapolis", "IN", "317", "462", 20),
    ("Baltimore", "MD", "410", "212", 18), ("Kansas City", "MO", "816", "641", 9),
    ("St. Louis", "MO", "314", "631", 9), ("Milwaukee", "WI", "414", "532", 11),
    ("Madison", "WI", "608", "537", 6), ("Denver", "CO", "303", "802", 13),
    ("Colorado Springs", "CO", "719", "809", 4), ("Minneapolis", "MN", "612", "554", 12),
    ("Saint Paul", "MN", "651", "551", 5), ("Charleston", "SC", "843", "294", 8),
    ("Columbia", "SC", "803", "292", 8), ("Birmingham", "AL", "205", "352", 15),
    ("New Orleans", "LA", "504", "701", 14), ("Louisville", "KY", "502", "402", 13),
    ("Portland", "OR", "503", "972", 13), ("Oklahoma City", "OK", "405", "731", 12),
    ("Hartford", "CT", "860", "061", 11), ("Salt Lake City", "UT", "801", "841", 10),
    ("Las Vegas", "NV", "702", "891", 10), ("Des Moines", "IA", "515", "503", 10),
    ("Little Rock", "AR", "501", "722", 9), ("Jackson", "MS", "601", "392", 9),
    ("Wichita", "KS", "316", "672", 9), ("Albuquerque", "NM", "505", "871", 6),
    ("Omaha", "NE", "402", "681", 6), ("Boise", "ID", "208", "837", 6),
    ("Charleston", "WV", "304", "253", 5), ("Honolulu", "HI", "808", "968", 4),
    ("Manchester", "NH", "603", "031", 4), ("Portland", "ME", "207", "041", 4),
    ("Providence", "RI", "401", "029", 3), ("Billings", "MT", "406", "591", 3),
    ("Wilmington", "DE", "302", "198", 3), ("Sioux Falls", "SD", "605", "571", 3),
    ("Fargo", "ND", "701", "581", 2), ("Anchorage", "AK", "907", "995", 2),
    ("Burlington", "VT", "802", "054", 2), ("Cheyenne", "WY", "307", "820", 2),
    ("Washington", "DC", "202", "200", 2),
)
STREETS: tuple[str, ...] = (
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park",
    "Sunset", "Lincoln", "Jackson", "Highland", "Church", "Mill", "River", "Spring", "Ridge",
    "Forest", "Meadow", "Madison", "Franklin", "Jefferson", "Chestnut", "Walnut", "1st", "2nd",
    "3rd", "4th", "5th", "Broadway", "Market", "Union", "Cherry", "Willow", "Birch", "Lakeview",
    "Valley", "Adams", "Center", "Harbor", "Bay", "Summit", "Prospect", "Martin Luther King Jr",
    "Cesar Chavez", "Peachtree", "Sycamore", "Aspen",
)
STREET_SUFFIXES: tuple[tuple[str, int], ...] = (
    ("St", 30), ("Ave", 22), ("Rd", 12), ("Dr", 10), ("Ln", 7), ("Blvd", 6), ("Way", 5),
    ("Ct", 4), ("Pl", 2), ("Pkwy", 2),
)
ADDRESS2_PREFIXES: tuple[str, ...] = ("Apt", "Apt", "Unit", "Suite", "#", "Apt.")
COMPANIES: tuple[str, ...] = (
    "Acme Corp", "Globex", "Initech", "Umbrella Health", "Wayne Enterprises", "Contoso",
    "Fabrikam", "Tailspin Toys", "Wide World Importers", "Northwind Traders", "Soylent",
    "Hooli", "Vandelay Industries", "Dunder Mifflin",
)
CHANNELS: tuple[tuple[str, int], ...] = (
    ("Online", 45), ("Store", 30), ("Mobile App", 17), ("Marketplace", 8),
)
BRANDS: tuple[tuple[str, int], ...] = (
    ("Summit Trail", 35), ("Harbor & Pine", 25), ("Kestrel", 20), ("Velo Sport", 12),
    ("Ridgeline Kids", 8),
)
PAYMENT_METHODS: tuple[tuple[str, int], ...] = (
    ("Credit Card", 50), ("Debit Card", 18), ("PayPal", 12), ("Apple Pay", 10),
    ("Gift Card", 5), ("Klarna", 5),
)
# (category, weight, median unit price in USD, subcategories); with ~2.5 lines of ~1.2 units,
# some discounts and 5 % returns an order is worth about $80 on average
CATEGORIES: tuple[tuple[str, int, float, tuple[str, ...]], ...] = (
    ("Apparel", 30, 19.0,
     ("T-Shirts", "Shirts", "Pants", "Shorts", "Dresses", "Sweaters", "Activewear")),
    ("Shoes", 20, 43.0, ("Running", "Hiking", "Casual", "Sandals", "Boots")),
    ("Accessories", 14, 10.0, ("Hats", "Gloves", "Belts", "Sunglasses", "Watches", "Scarves")),
    ("Socks", 12, 6.0, ("Crew", "Ankle", "Wool", "Compression")),
    ("Outerwear", 9, 56.0, ("Jackets", "Rain Shells", "Parkas", "Vests", "Fleece")),
    ("Bags", 8, 28.0, ("Backpacks", "Duffels", "Totes", "Hip Packs")),
    ("Equipment", 7, 21.0, ("Bottles", "Headlamps", "Trekking Poles", "Tents")),
)
ITEM_QUANTITIES: tuple[tuple[int, int], ...] = ((1, 85), (2, 10), (3, 3), (4, 1), (6, 1))
DISCOUNT_PERCENTS: tuple[int, ...] = (10, 15, 20, 25, 30, 40)
LOYALTY_TIERS: tuple[tuple[str, float], ...] = (
    # (tier, minimum lifetime revenue): tiers follow spend, as loyalty programmes do
    ("Platinum", 5000.0), ("Gold", 2000.0), ("Silver", 500.0), ("Bronze", 0.0),
)
# fmt: on

# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`generate_demo_database` wrote.

    Attributes:
        path: the database file.
        rows: row count per table, in creation order.
        seconds: wall-clock time taken.
        customers: number of customers requested (and written).
        seed: the seed used.
        as_of: the date the data is anchored to; no order lies on or after it.
    """

    path: Path
    rows: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    seconds: float = 0.0
    customers: int = 0
    seed: int = 0
    as_of: datetime.date = datetime.date(1970, 1, 1)


def generate_demo_database(
    path: str | os.PathLike[str],
    *,
    customers: int = 100_000,
    seed: int = 42,
    as_of: datetime.date | None = None,
    orders_per_customer: float = 10.0,
    items: bool = True,
    progress: Callable[[str], None] | None = None,
    overwrite: bool = False,
) -> DemoSummary:
    """Write a new DuckDB demo database with Amperity's standard customer 360 tables.

    The file is built under a temporary name beside ``path`` and renamed when complete, so a
    crash never leaves half a database at ``path``.

    Args:
        path: the database file to create.
        customers: number of customers (rows of ``Customer_360``).
        seed: any integer; the same seed, ``as_of`` and sizes give the same table contents.
        as_of: the "now" of the data (default: today in UTC). Orders lie in the five years
            before it; none lies on or after it.
        orders_per_customer: average number of orders over all customers, prospects included.
        items: also write ``Unified_Itemized_Transactions`` (about 2.5 lines per order); order
            revenue is then the sum of the order's non-return item revenue.
        progress: called with a short message as each table is written.
        overwrite: replace ``path`` if it exists instead of refusing.

    Returns:
        A :class:`DemoSummary` with the row count of every table and the time taken.

    Raises:
        ConfigError: ``path`` exists and ``overwrite`` is false, its folder does not exist, or
            a size or the seed is out of range.
    """
    started = time.monotonic()
    target = Path(path)
    _validate(target, customers, seed, orders_per_customer, overwrite)
    as_of = as_of or datetime.datetime.now(datetime.UTC).date()
    say = progress or (lambda _message: None)

    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with connect_utc(str(temporary)) as con:
            _configure(con)
            rows = _build(con, customers, seed, as_of, orders_per_customer, items, say)
            con.execute("CHECKPOINT")
        if overwrite:
            # A stale write-ahead log beside the target would be replayed into the new file.
            Path(f"{target}.wal").unlink(missing_ok=True)
        os.replace(temporary, target)
    finally:
        for leftover in (temporary, Path(f"{temporary}.wal")):
            leftover.unlink(missing_ok=True)

    seconds = time.monotonic() - started
    say(f"Wrote {target} in {seconds:.1f} s")
    return DemoSummary(
        path=target,
        rows=MappingProxyType(rows),
        seconds=seconds,
        customers=customers,
        seed=seed,
        as_of=as_of,
    )


# --------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------


def _validate(
    target: Path, customers: int, seed: int, orders_per_customer: float, overwrite: bool
) -> None:
    problem = None
    if isinstance(customers, bool) or not isinstance(customers, int) or customers < 1:
        problem = f"customers must be a whole number of at least 1, got {customers!r}."
    elif customers > 1_000_000_000:
        problem = f"customers must be at most 1,000,000,000, got {customers:,}."
    elif isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        problem = f"seed must be a whole number from 0 to 2**63 - 1, got {seed!r}."
    elif not 0 <= orders_per_customer <= 1000:
        problem = f"orders_per_customer must be between 0 and 1000, got {orders_per_customer!r}."
    elif target.exists() and not overwrite:
        problem = (
            f"{target} already exists; choose another path or pass overwrite=True "
            "(--overwrite) to replace it."
        )
    elif not target.parent.is_dir():
        problem = f"The folder {target.parent} does not exist; create it first."
    if problem:
        raise ConfigError(problem)


def _configure(con: duckdb.DuckDBPyConnection) -> None:
    # Row order is irrelevant to the tables; not preserving it lets DuckDB stream in parallel
    # with bounded memory.
    con.execute("SET preserve_insertion_order = false")
    # A library call must not draw DuckDB's progress bar on the caller's terminal.
    con.execute("SET enable_progress_bar = false")


def _build(
    con: duckdb.DuckDBPyConnection,
    customers: int,
    seed: int,
    as_of: datetime.date,
    orders_per_customer: float,
    items: bool,
    say: Callable[[str], None],
) -> dict[str, int]:
    for statement in _macro_statements(seed, customers):
        con.execute(statement)

    steps: list[tuple[str, str, bool]] = [
        ("_plan", _plan_sql(customers, seed, as_of, orders_per_customer), False),
        ("Merged_Customers", _merged_customers_sql(customers), True),
    ]
    if items:
        steps.append(("Unified_Itemized_Transactions", _itemized_transactions_sql(), True))
    steps += [
        ("Unified_Transactions", _unified_transactions_sql(items), True),
        ("Transaction_Attributes_Extended", _transaction_attributes_sql(as_of), True),
        ("Customer_Attributes", _customer_attributes_sql(), True),
        ("Customer_360", _customer_360_sql(), True),
    ]

    rows: dict[str, int] = {}
    for name, sql, is_output in steps:
        step_started = time.monotonic()
        say(f"Writing {name} …" if is_output else "Planning customers and orders …")
        con.execute(sql)
        count = con.execute(f"SELECT count(*) FROM {name}").fetchone()
        n = int(count[0]) if count else 0
        if is_output:
            rows[name] = n
        say(f"{name}: {n:,} rows ({time.monotonic() - step_started:.1f} s)")
    if items:
        con.execute("ALTER TABLE Unified_Itemized_Transactions DROP COLUMN oi")
    con.execute("DROP TABLE _plan")
    return rows


# --------------------------------------------------------------------------------------------
# SQL helpers
# --------------------------------------------------------------------------------------------


def _literal(value: str | int | float | None) -> str:
    """One SQL literal (the value lists above are ours, but names contain quotes: O'Brien)."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _list(values: Sequence[str | int | float | None]) -> str:
    return "[" + ", ".join(_literal(v) for v in values) + "]"


def _slots(weighted: Sequence[tuple[object, int]]) -> list[int]:
    """1-based indexes repeated by weight: a uniform pick among slots is a weighted pick."""
    return [index for index, (_, weight) in enumerate(weighted, start=1) for _ in range(weight)]


def _pick_macro(name: str, values: Sequence[str | int | float | None]) -> str:
    """A macro mapping a uniform number in [0, 1) to one of ``values``, all equally likely."""
    return (
        f"CREATE TEMP MACRO {name}(u) AS "
        f"({_list(values)})[1 + CAST(floor(u * {len(values)}) AS BIGINT)]"
    )


def _lookup_macro(name: str, values: Sequence[str | int | float | None]) -> str:
    """A macro mapping a 1-based index to one of ``values``."""
    return f"CREATE TEMP MACRO {name}(idx) AS ({_list(values)})[idx]"


def _macro_statements(seed: int, customers: int) -> list[str]:
    """Temporary macros: the random primitives and the value lists (not stored in the file)."""
    # Email numbers are a bijection of the customer index modulo a power of ten (the multiplier
    # is coprime with 10), so every generated email is unique unless deliberately shared.
    email_modulus = 10 ** len(str(customers))
    categories = [c for c, _, _, _ in CATEGORIES]
    subcategories = "[" + ", ".join(_list(s) for _, _, _, s in CATEGORIES) + "]"
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
        _pick_macro("_pick_female_name", FEMALE_NAMES),
        _pick_macro("_pick_male_name", MALE_NAMES),
        _pick_macro("_pick_surname", SURNAMES),
        _pick_macro("_pick_gender", [GENDERS[k - 1][0] for k in _slots(GENDERS)]),
        _pick_macro("_pick_email_domain", [EMAIL_DOMAINS[k - 1][0] for k in _slots(EMAIL_DOMAINS)]),
        _pick_macro("_pick_city_idx", _slots([(c[0], c[4]) for c in CITIES])),
        _lookup_macro("_city_name", [c[0] for c in CITIES]),
        _lookup_macro("_city_state", [c[1] for c in CITIES]),
        _lookup_macro("_city_area_code", [c[2] for c in CITIES]),
        _lookup_macro("_city_zip3", [c[3] for c in CITIES]),
        _pick_macro("_pick_area_code", sorted({c[2] for c in CITIES})),
        _pick_macro("_pick_street", STREETS),
        _pick_macro(
            "_pick_street_suffix", [STREET_SUFFIXES[k - 1][0] for k in _slots(STREET_SUFFIXES)]
        ),
        _pick_macro("_pick_address2_prefix", ADDRESS2_PREFIXES),
        _pick_macro("_pick_company", COMPANIES),
        _pick_macro("_pick_channel_idx", _slots(CHANNELS)),
        _lookup_macro("_channel_name", [c for c, _ in CHANNELS]),
        _pick_macro("_pick_brand_idx", _slots(BRANDS)),
        _lookup_macro("_brand_name", [b for b, _ in BRANDS]),
        _pick_macro(
            "_pick_payment_method", [PAYMENT_METHODS[k - 1][0] for k in _slots(PAYMENT_METHODS)]
        ),
        _pick_macro("_pick_category_idx", _slots([(c, w) for c, w, _, _ in CATEGORIES])),
        _lookup_macro("_category_name", categories),
        _lookup_macro("_category_base_price", [p for _, _, p, _ in CATEGORIES]),
        f"""CREATE TEMP MACRO _subcategory(cat, u) AS
            ({subcategories})[cat][1 + CAST(floor(u * len(({subcategories})[cat])) AS BIGINT)]""",
        _pick_macro(
            "_pick_item_quantity", [ITEM_QUANTITIES[k - 1][0] for k in _slots(ITEM_QUANTITIES)]
        ),
        _pick_macro("_pick_discount_percent", DISCOUNT_PERCENTS),
        # Codes looked up in a list: printf() on 25 million rows costs seconds.
        _lookup_macro(
            "_product_code",
            [f"SKU-{p:05d}" for p in range(1, len(BRANDS) * PRODUCTS_PER_BRAND + 1)],
        ),
        _lookup_macro("_store_code", [f"ST{n:04d}" for n in range(1, STORES + 1)]),
        # --- names and emails as functions of the customer index, so that a customer who
        # shares an email can compute the other customer's address without a join.
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
        # --- line items as functions of (order index, line number, brand), shared by
        # Unified_Transactions (which sums them) and Unified_Itemized_Transactions.
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


# --------------------------------------------------------------------------------------------
# Customer plan: who buys, how often, when and where (one row per customer, temporary)
# --------------------------------------------------------------------------------------------


def _order_count_mu(mean_orders: float) -> float:
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


def _plan_sql(customers: int, seed: int, as_of: datetime.date, orders_per_customer: float) -> str:
    # Purchasers get at least one order, so with very few orders per customer there are fewer
    # purchasers; otherwise ~82 % purchase and the rest are prospects.
    purchaser_share = min(PURCHASER_SHARE, orders_per_customer)
    mean_orders = orders_per_customer / purchaser_share if purchaser_share > 0 else 1.0
    mu = _order_count_mu(mean_orders)
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


def _merged_customers_sql(customers: int) -> str:
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


# --------------------------------------------------------------------------------------------
# Orders and line items
# --------------------------------------------------------------------------------------------


def _orders_sql() -> str:
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


def _unified_transactions_sql(items: bool) -> str:
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
WITH orders AS ({_orders_sql()}),
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


def _itemized_transactions_sql() -> str:
    # Keeps the order index ``oi`` for Unified_Transactions' totals; dropped afterwards.
    return f"""
CREATE TABLE Unified_Itemized_Transactions AS
WITH orders AS ({_orders_sql()}),
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


# --------------------------------------------------------------------------------------------
# Summaries computed from the transactions
# --------------------------------------------------------------------------------------------


def _counts_by(column: str, values: Sequence[str]) -> str:
    """A list of order counts per value, in the fixed order of ``values``."""
    return (
        "[" + ", ".join(f"count(*) FILTER (WHERE {column} = {_literal(v)})" for v in values) + "]"
    )


def _transaction_attributes_sql(as_of: datetime.date) -> str:
    day = f"DATE '{as_of.isoformat()}'"
    l12m = f"CAST({day} - INTERVAL 12 MONTH AS TIMESTAMP)"
    l30d = f"CAST({day} - INTERVAL 30 DAY AS TIMESTAMP)"
    channels = [c for c, _ in CHANNELS]
    brands = [b for b, _ in BRANDS]
    return f"""
CREATE TABLE Transaction_Attributes_Extended AS
WITH per_customer AS (
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
        -- a customer's order datetimes are distinct (see _orders_sql): no ties to break
        arg_min(purchase_channel, order_datetime) AS first_channel,
        arg_max(purchase_channel, order_datetime) AS latest_channel,
        arg_min(purchase_brand, order_datetime) AS first_brand,
        arg_max(purchase_brand, order_datetime) AS latest_brand,
        {_counts_by("purchase_channel", channels)} AS channel_counts,
        {_counts_by("purchase_brand", brands)} AS brand_counts
    FROM Unified_Transactions
    GROUP BY amperity_id
)
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
    {_list(channels)}[list_position(channel_counts, list_max(channel_counts))]
        AS lifetime_preferred_channel,
    {_list(brands)}[list_position(brand_counts, list_max(brand_counts))]
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


def _customer_attributes_sql() -> str:
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


def _customer_360_sql() -> str:
    tiers = "\n".join(
        f"                  WHEN coalesce(t.lifetime_order_revenue, 0) >= {minimum} "
        f"THEN {_literal(tier)}"
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
