"""Tests of the demo database generator (herald.demo.generate)."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from herald.demo import TABLES, DemoSummary, generate_demo_database
from herald.exceptions import ConfigError

AS_OF = datetime.date(2025, 6, 1)
CUSTOMERS = 2_000
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
WELL_FORMED_EMAIL = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"

VARCHAR, DATE, TIMESTAMP, BOOLEAN = "VARCHAR", "DATE", "TIMESTAMP", "BOOLEAN"
INTEGER, MONEY = "INTEGER", "DECIMAL(38,2)"
PII = {
    "amperity_id": VARCHAR,
    "given_name": VARCHAR,
    "surname": VARCHAR,
    "full_name": VARCHAR,
    "email": VARCHAR,
    "phone": VARCHAR,
    "address": VARCHAR,
    "address2": VARCHAR,
    "city": VARCHAR,
    "state": VARCHAR,
    "postal": VARCHAR,
    "country": VARCHAR,
    "birthdate": DATE,
    "gender": VARCHAR,
}
EXPECTED_COLUMNS: dict[str, dict[str, str]] = {
    "Customer_360": {
        **PII,
        "customer_since": DATE,
        "loyalty_tier": VARCHAR,
        "loyalty_points": INTEGER,
        "is_opted_into_email": BOOLEAN,
        "lifetime_order_revenue": MONEY,
        "lifetime_order_frequency": INTEGER,
        "latest_order_datetime": TIMESTAMP,
        "preferred_channel": VARCHAR,
        "preferred_brand": VARCHAR,
    },
    "Merged_Customers": {**PII, "company": VARCHAR},
    "Customer_Attributes": {
        "amperity_id": VARCHAR,
        "contactable_email": BOOLEAN,
        "contactable_phone": BOOLEAN,
        "contactable_address": BOOLEAN,
        "contactable_paid_social": BOOLEAN,
        "contactable_global": BOOLEAN,
        "is_opted_into_email": BOOLEAN,
        "is_opted_into_sms": BOOLEAN,
        "is_purchaser": BOOLEAN,
        "is_prospect": BOOLEAN,
        "is_employee": BOOLEAN,
        "is_test_account": BOOLEAN,
        "historical_purchaser_lifecycle_status": VARCHAR,
    },
    "Unified_Transactions": {
        "amperity_id": VARCHAR,
        "order_id": VARCHAR,
        "order_datetime": TIMESTAMP,
        "order_revenue": MONEY,
        "order_quantity": INTEGER,
        "order_discount_amount": MONEY,
        "purchase_channel": VARCHAR,
        "purchase_brand": VARCHAR,
        "store_id": VARCHAR,
        "currency": VARCHAR,
        "payment_method": VARCHAR,
    },
    "Unified_Itemized_Transactions": {
        "amperity_id": VARCHAR,
        "order_id": VARCHAR,
        "order_datetime": TIMESTAMP,
        "order_line_number": INTEGER,
        "product_id": VARCHAR,
        "product_category": VARCHAR,
        "product_subcategory": VARCHAR,
        "item_quantity": INTEGER,
        "item_revenue": MONEY,
        "item_list_price": MONEY,
        "item_discount_amount": MONEY,
        "is_return": BOOLEAN,
        "is_cancellation": BOOLEAN,
        "purchase_brand": VARCHAR,
        "purchase_channel": VARCHAR,
    },
    "Transaction_Attributes_Extended": {
        "amperity_id": VARCHAR,
        "lifetime_order_revenue": MONEY,
        "lifetime_order_frequency": INTEGER,
        "lifetime_average_order_value": MONEY,
        "lifetime_total_items": INTEGER,
        "l12m_order_revenue": MONEY,
        "l12m_order_frequency": INTEGER,
        "l12m_total_items": INTEGER,
        "l30d_order_revenue": MONEY,
        "l30d_order_frequency": INTEGER,
        "first_order_datetime": TIMESTAMP,
        "second_order_datetime": TIMESTAMP,
        "latest_order_datetime": TIMESTAMP,
        "days_since_latest_order": INTEGER,
        "first_order_channel": VARCHAR,
        "latest_order_channel": VARCHAR,
        "first_order_brand": VARCHAR,
        "latest_order_brand": VARCHAR,
        "lifetime_preferred_channel": VARCHAR,
        "lifetime_preferred_brand": VARCHAR,
        "one_and_done": BOOLEAN,
        "multi_purchase_brand": BOOLEAN,
        "multi_purchase_channel": BOOLEAN,
        "early_repeat_purchaser": BOOLEAN,
    },
}


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoSummary]:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    summary = generate_demo_database(path, customers=CUSTOMERS, seed=7, as_of=AS_OF)
    return path, summary


@pytest.fixture
def con(demo: tuple[Path, DemoSummary]) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(demo[0]), read_only=True)
    yield connection
    connection.close()


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def table_contents(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with duckdb.connect(str(path), read_only=True) as con:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {
            name: con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()
            for name in sorted(names)
        }


# --- the file ---------------------------------------------------------------------------------


def test_summary_counts_every_table(con: duckdb.DuckDBPyConnection, demo) -> None:
    path, summary = demo
    assert summary.path == path
    assert summary.as_of == AS_OF
    assert summary.seed == 7
    assert summary.seconds > 0
    assert list(summary.rows) == list(TABLES)
    for table, count in summary.rows.items():
        assert scalar(con, f"SELECT count(*) FROM {table}") == count
    assert summary.rows["Customer_360"] == CUSTOMERS


def test_only_the_database_file_is_left(demo) -> None:
    path, _ = demo
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_every_table_and_column_has_its_type(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE NOT internal ORDER BY table_name, column_index"
    ).fetchall()
    actual: dict[str, dict[str, str]] = {}
    for table, column, data_type in rows:
        actual.setdefault(table, {})[column] = data_type
    assert actual == EXPECTED_COLUMNS
    # nothing temporary (helper tables, macros) is stored in the file
    assert (
        scalar(
            con,
            "SELECT count(*) FROM duckdb_functions() WHERE function_name LIKE '\\_%' "
            "ESCAPE '\\' AND NOT internal",
        )
        == 0
    )


def test_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "existing.duckdb"
    path.write_bytes(b"not a database")
    with pytest.raises(ConfigError, match="already exists"):
        generate_demo_database(path, customers=10, as_of=AS_OF)
    assert path.read_bytes() == b"not a database"

    summary = generate_demo_database(path, customers=10, as_of=AS_OF, overwrite=True)
    assert summary.rows["Customer_360"] == 10
    with duckdb.connect(str(path), read_only=True) as con:
        assert scalar(con, "SELECT count(*) FROM Customer_360") == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.duckdb"]


def test_a_failure_leaves_no_file_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from herald.demo import generate

    def explode(*args: object, **kwargs: object) -> str:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(generate, "customer_360_sql", explode)
    with pytest.raises(RuntimeError, match="disk on fire"):
        generate_demo_database(tmp_path / "crash.duckdb", customers=50, as_of=AS_OF)
    assert list(tmp_path.iterdir()) == []


def test_a_crashed_attempt_does_not_spoil_the_next(tmp_path: Path) -> None:
    # A kill -9 leaves the partial database (with its tables) under the temporary name the
    # next attempt writes to; the next attempt must start afresh, not open it.
    crashed = tmp_path / ".crash.duckdb.partial"
    generate_demo_database(crashed, customers=5, as_of=AS_OF)
    (tmp_path / ".crash.duckdb.partial.wal").write_bytes(b"not a log")

    summary = generate_demo_database(tmp_path / "crash.duckdb", customers=50, as_of=AS_OF)
    assert summary.rows["Customer_360"] == 50
    with duckdb.connect(str(tmp_path / "crash.duckdb"), read_only=True) as con:
        assert scalar(con, "SELECT count(*) FROM Customer_360") == 50
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crash.duckdb"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"customers": 0}, "customers"),
        ({"customers": 2.5}, "customers"),
        ({"seed": -1}, "seed"),
        ({"orders_per_customer": -1.0}, "orders_per_customer"),
    ],
)
def test_rejects_bad_options(tmp_path: Path, options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        generate_demo_database(tmp_path / "x.duckdb", **options)  # type: ignore[arg-type]
    assert not (tmp_path / "x.duckdb").exists()


def test_rejects_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        generate_demo_database(tmp_path / "nowhere" / "x.duckdb", customers=10)


def test_reports_progress(tmp_path: Path) -> None:
    messages: list[str] = []
    generate_demo_database(
        tmp_path / "p.duckdb", customers=20, as_of=AS_OF, progress=messages.append
    )
    for table in TABLES:
        assert any(m.startswith(f"{table}:") for m in messages), (table, messages)


def test_same_seed_gives_identical_tables(tmp_path: Path, demo) -> None:
    path, _ = demo
    again = tmp_path / "again.duckdb"
    generate_demo_database(again, customers=CUSTOMERS, seed=7, as_of=AS_OF)
    first, second = table_contents(path), table_contents(again)
    assert list(first) == sorted(TABLES)
    for table in first:
        assert first[table] == second[table], table


def test_same_seed_gives_identical_tables_across_row_groups(tmp_path: Path) -> None:
    """Big enough for several row groups, so DuckDB really runs the statements in parallel."""

    def fingerprints(path: Path) -> dict[str, object]:
        with duckdb.connect(str(path), read_only=True) as con:
            return {
                table: con.execute(
                    f"SELECT count(*), sum(hash(t)::HUGEINT), bit_xor(hash(t)) FROM {table} t"
                ).fetchall()
                for table in TABLES
            }

    options = {"customers": 30_000, "seed": 99, "as_of": AS_OF, "orders_per_customer": 5.0}
    generate_demo_database(tmp_path / "one.duckdb", **options)  # type: ignore[arg-type]
    generate_demo_database(tmp_path / "two.duckdb", **options)  # type: ignore[arg-type]
    one, two = fingerprints(tmp_path / "one.duckdb"), fingerprints(tmp_path / "two.duckdb")
    assert one == two
    assert one["Unified_Itemized_Transactions"][0][0] > 300_000  # type: ignore[index]


def test_other_seed_or_date_gives_other_data(tmp_path: Path) -> None:
    def ids_and_orders(path: Path) -> tuple[list[object], object]:
        with duckdb.connect(str(path), read_only=True) as con:
            ids = [
                r[0]
                for r in con.execute("SELECT amperity_id FROM Customer_360 ORDER BY 1").fetchall()
            ]
            return ids, scalar(con, "SELECT max(order_datetime) FROM Unified_Transactions")

    generate_demo_database(tmp_path / "a.duckdb", customers=50, seed=1, as_of=AS_OF)
    generate_demo_database(tmp_path / "b.duckdb", customers=50, seed=2, as_of=AS_OF)
    generate_demo_database(
        tmp_path / "c.duckdb", customers=50, seed=1, as_of=AS_OF + datetime.timedelta(days=100)
    )
    a, b, c = (ids_and_orders(tmp_path / f"{n}.duckdb") for n in "abc")
    assert set(a[0]).isdisjoint(b[0])
    assert a[0] == c[0]  # ids depend on seed and index only
    assert c[1] > a[1]  # the data moves with as_of


# --- customers --------------------------------------------------------------------------------


def test_amperity_ids_are_unique_uuids(con: duckdb.DuckDBPyConnection) -> None:
    for table in ("Customer_360", "Merged_Customers", "Customer_Attributes"):
        ids = [r[0] for r in con.execute(f"SELECT amperity_id FROM {table}").fetchall()]
        assert len(ids) == len(set(ids)) == CUSTOMERS
        assert all(UUID.match(i) for i in ids)
    assert (
        scalar(
            con,
            """
        SELECT count(*) FROM Customer_360 c
        FULL JOIN Merged_Customers m USING (amperity_id)
        FULL JOIN Customer_Attributes a USING (amperity_id)
        WHERE c.amperity_id IS NULL OR m.amperity_id IS NULL OR a.amperity_id IS NULL""",
        )
        == 0
    )
    assert (
        scalar(
            con,
            """
        SELECT count(*) FROM Unified_Transactions
        WHERE amperity_id NOT IN (SELECT amperity_id FROM Customer_360)""",
        )
        == 0
    )


def test_customer_360_repeats_merged_pii(con: duckdb.DuckDBPyConnection) -> None:
    columns = ", ".join(PII)
    assert (
        scalar(
            con,
            f"""
        SELECT count(*) FROM (
            SELECT {columns} FROM Customer_360 EXCEPT ALL SELECT {columns} FROM Merged_Customers)
        """,
        )
        == 0
    )


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """More customers (and few orders) so that shares of one per cent are measurable."""
    path = tmp_path_factory.mktemp("dirty") / "dirty.duckdb"
    generate_demo_database(
        path, customers=20_000, seed=11, as_of=AS_OF, orders_per_customer=1.0, items=False
    )
    connection = duckdb.connect(str(path), read_only=True)
    yield connection
    connection.close()


def share(con: duckdb.DuckDBPyConnection, condition: str, where: str = "true") -> float:
    value = scalar(
        con,
        f"SELECT avg(CASE WHEN {condition} THEN 1.0 ELSE 0 END) "
        f"FROM Merged_Customers WHERE {where}",
    )
    assert isinstance(value, float)
    return value


def test_emails_are_dirty_in_realistic_shares(dirty: duckdb.DuckDBPyConnection) -> None:
    assert 0.02 < share(dirty, "email IS NULL") < 0.04
    malformed = f"NOT regexp_full_match(trim(email), '{WELL_FORMED_EMAIL}')"
    assert 0.006 < share(dirty, malformed, "email IS NOT NULL") < 0.015
    for kind in (
        "email NOT LIKE '%@%'",
        "email LIKE '%@@%'",
        "email LIKE '%.'",
        "trim(email) LIKE '% %'",
    ):
        assert scalar(dirty, f"SELECT count(*) FROM Merged_Customers WHERE {kind}") > 0, kind
    assert 0.01 < share(dirty, "email <> lower(email)", "email IS NOT NULL") < 0.03
    assert 0.005 < share(dirty, "email <> trim(email)", "email IS NOT NULL") < 0.015
    in_shared_groups = scalar(
        dirty,
        """
        SELECT sum(n) FROM (
            SELECT count(*) AS n FROM Merged_Customers WHERE email IS NOT NULL
            GROUP BY lower(trim(email)) HAVING count(*) > 1)""",
    )
    assert isinstance(in_shared_groups, int | float)
    # ~0.5 % of customers copy another's email, so ~1 % are in a group of two or more
    assert 0.005 < in_shared_groups / 20_000 < 0.015


def test_phones_are_mostly_e164(dirty: duckdb.DuckDBPyConnection) -> None:
    assert 0.08 < share(dirty, "phone IS NULL") < 0.12
    e164 = r"regexp_full_match(phone, '^\+[1-9][0-9]{7,14}$')"
    assert 0.85 < share(dirty, e164, "phone IS NOT NULL") < 0.93
    assert (
        0.003 < share(dirty, "phone LIKE '+44%' OR phone LIKE '+49%'", "phone IS NOT NULL") < 0.02
    )
    assert scalar(dirty, "SELECT count(*) FROM Merged_Customers WHERE phone LIKE '(%) %-%'") > 0
    assert (
        scalar(
            dirty,
            r"SELECT count(*) FROM Merged_Customers "
            r"WHERE regexp_full_match(phone, '\d{3}\.\d{3}\.\d{4}')",
        )
        > 0
    )


def test_names_addresses_and_birthdates(dirty: duckdb.DuckDBPyConnection) -> None:
    names = {
        r[0]
        for r in dirty.execute(
            "SELECT given_name FROM Merged_Customers UNION SELECT surname FROM Merged_Customers"
        ).fetchall()
    }
    for name in ("José", "Zoë", "Müller", "O'Brien", "李"):
        assert name in names, name
    assert scalar(dirty, "SELECT count(DISTINCT surname) FROM Merged_Customers") > 100
    assert 0.01 < share(dirty, "address IS NULL OR city IS NULL OR postal IS NULL") < 0.04
    assert 0.08 < share(dirty, "address2 IS NOT NULL") < 0.16
    top_states = [
        r[0]
        for r in dirty.execute(
            "SELECT state FROM Merged_Customers WHERE state IS NOT NULL "
            "GROUP BY state ORDER BY count(*) DESC LIMIT 2"
        ).fetchall()
    ]
    assert top_states == ["CA", "TX"]  # weighted by population
    assert 0.03 < share(dirty, "birthdate IS NULL") < 0.07
    low, high = dirty.execute(
        "SELECT min(birthdate), max(birthdate) FROM Merged_Customers"
    ).fetchall()[0]
    assert low >= datetime.date(1940, 1, 1)
    assert high <= datetime.date(2007, 12, 31)
    genders = {
        r[0] for r in dirty.execute("SELECT DISTINCT gender FROM Merged_Customers").fetchall()
    }
    assert {"F", "M", None} <= genders


def test_customer_attributes_follow_the_rules(con: duckdb.DuckDBPyConnection) -> None:
    violations = scalar(
        con,
        f"""
        SELECT count(*)
        FROM Customer_Attributes a JOIN Merged_Customers m USING (amperity_id)
        LEFT JOIN Transaction_Attributes_Extended t USING (amperity_id)
        WHERE a.contactable_email IS DISTINCT FROM (a.is_opted_into_email
                  AND coalesce(regexp_full_match(trim(m.email), '{WELL_FORMED_EMAIL}'), false))
           OR a.contactable_phone IS DISTINCT FROM (a.is_opted_into_sms AND m.phone IS NOT NULL)
           OR a.contactable_address IS DISTINCT FROM (m.address IS NOT NULL
                  AND m.city IS NOT NULL AND m.state IS NOT NULL AND m.postal IS NOT NULL)
           OR a.is_purchaser IS DISTINCT FROM (t.amperity_id IS NOT NULL)
           OR a.is_prospect IS DISTINCT FROM (t.amperity_id IS NULL)
           OR a.historical_purchaser_lifecycle_status IS DISTINCT FROM (CASE
                  WHEN t.amperity_id IS NULL THEN 'Prospect'
                  WHEN t.days_since_latest_order > 730 THEN 'Dormant'
                  WHEN t.days_since_latest_order > 365 THEN 'Lapsed'
                  ELSE 'Active' END)""",
    )
    assert violations == 0
    email_opt_in = scalar(con, "SELECT avg(is_opted_into_email::INTEGER) FROM Customer_Attributes")
    sms_opt_in = scalar(con, "SELECT avg(is_opted_into_sms::INTEGER) FROM Customer_Attributes")
    assert isinstance(email_opt_in, float)
    assert isinstance(sms_opt_in, float)
    assert 0.58 < email_opt_in < 0.72
    assert 0.25 < sms_opt_in < 0.35
    statuses = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT historical_purchaser_lifecycle_status FROM Customer_Attributes"
        ).fetchall()
    }
    assert statuses == {"Active", "Lapsed", "Dormant", "Prospect"}


# --- transactions -----------------------------------------------------------------------------


def test_orders_lie_in_the_five_years_before_as_of(con: duckdb.DuckDBPyConnection) -> None:
    low, high = con.execute(
        "SELECT min(order_datetime), max(order_datetime) FROM Unified_Transactions"
    ).fetchall()[0]
    assert high < datetime.datetime.combine(AS_OF, datetime.time())
    assert low >= datetime.datetime.combine(
        AS_OF - datetime.timedelta(days=5 * 365 + 1), datetime.time()
    )
    assert (
        scalar(
            con,
            "SELECT count(*) FROM Unified_Itemized_Transactions "
            f"WHERE order_datetime >= DATE '{AS_OF}'",
        )
        == 0
    )
    # no customer became one after their first order
    assert (
        scalar(
            con,
            """
        SELECT count(*) FROM Customer_360 c JOIN Transaction_Attributes_Extended t
        USING (amperity_id) WHERE c.customer_since > CAST(t.first_order_datetime AS DATE)""",
        )
        == 0
    )


def test_orders_per_customer_average_and_long_tail(con: duckdb.DuckDBPyConnection) -> None:
    per_customer = scalar(con, "SELECT count(*) / 2000.0 FROM Unified_Transactions")
    assert isinstance(per_customer, float)
    assert 8.5 < per_customer < 11.5
    prospects = scalar(con, "SELECT avg(is_prospect::INTEGER) FROM Customer_Attributes")
    assert isinstance(prospects, float)
    assert 0.14 < prospects < 0.22
    small, largest = con.execute("""
        SELECT avg(CASE WHEN lifetime_order_frequency <= 10 THEN 1.0 ELSE 0 END),
               max(lifetime_order_frequency)
        FROM Transaction_Attributes_Extended""").fetchall()[0]
    assert small > 0.5
    assert largest >= 100


def test_order_ids_are_unique_and_channels_have_stores(con: duckdb.DuckDBPyConnection) -> None:
    assert scalar(con, "SELECT count(*) - count(DISTINCT order_id) FROM Unified_Transactions") == 0
    rows = dict(
        con.execute("""
        SELECT purchase_channel, bool_and((store_id IS NOT NULL) = (purchase_channel = 'Store'))
        FROM Unified_Transactions GROUP BY 1""").fetchall()
    )
    assert set(rows) == {"Online", "Store", "Mobile App", "Marketplace"}
    assert all(rows.values())
    assert {
        r[0] for r in con.execute("SELECT DISTINCT currency FROM Unified_Transactions").fetchall()
    } == {"USD"}
    average = scalar(con, "SELECT avg(order_revenue) FROM Unified_Transactions")
    assert 60 < float(average) < 110  # type: ignore[arg-type]


def test_order_totals_are_the_sums_of_non_return_items(con: duckdb.DuckDBPyConnection) -> None:
    mismatches = scalar(
        con,
        """
        WITH lines AS (
            SELECT order_id,
                   count(*) AS n,
                   coalesce(sum(item_revenue) FILTER (WHERE NOT is_return), 0) AS revenue,
                   coalesce(sum(item_quantity) FILTER (WHERE NOT is_return), 0) AS quantity,
                   coalesce(sum(item_discount_amount) FILTER (WHERE NOT is_return), 0)
                       AS discount,
                   any_value(amperity_id) AS amperity_id,
                   any_value(order_datetime) AS order_datetime
            FROM Unified_Itemized_Transactions GROUP BY order_id)
        SELECT count(*)
        FROM Unified_Transactions o FULL JOIN lines l USING (order_id)
        WHERE o.order_revenue IS DISTINCT FROM l.revenue
           OR o.order_quantity IS DISTINCT FROM l.quantity
           OR o.order_discount_amount IS DISTINCT FROM l.discount
           OR o.amperity_id IS DISTINCT FROM l.amperity_id
           OR o.order_datetime IS DISTINCT FROM l.order_datetime""",
    )
    assert mismatches == 0
    lines_per_order = scalar(
        con, "SELECT count(*) / count(DISTINCT order_id) FROM Unified_Itemized_Transactions"
    )
    assert 2.0 < lines_per_order < 3.0  # type: ignore[operator]
    returns = scalar(con, "SELECT avg(is_return::INTEGER) FROM Unified_Itemized_Transactions")
    assert 0.035 < returns < 0.065  # type: ignore[operator]
    assert (
        scalar(
            con,
            """
        SELECT count(*) FROM Unified_Itemized_Transactions
        WHERE item_revenue <> item_list_price - item_discount_amount OR item_revenue < 0""",
        )
        == 0
    )
    lines = con.execute("""
        SELECT order_id, list(order_line_number ORDER BY order_line_number)
        FROM Unified_Itemized_Transactions GROUP BY 1""").fetchall()
    assert all(numbers == list(range(1, len(numbers) + 1)) for _, numbers in lines)
    categories = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT product_category FROM Unified_Itemized_Transactions"
        ).fetchall()
    }
    assert {"Shoes", "Apparel", "Accessories", "Outerwear", "Socks", "Bags"} <= categories


# --- Transaction_Attributes_Extended ------------------------------------------------------------


def test_tae_equals_an_independent_recomputation(con: duckdb.DuckDBPyConnection) -> None:
    """Every customer's rollups, recomputed with plain SQL over Unified_Transactions."""
    mismatches = con.execute(f"""
        WITH orders AS (
            SELECT *,
                   row_number() OVER (PARTITION BY amperity_id ORDER BY order_datetime) AS nth,
                   row_number() OVER (PARTITION BY amperity_id
                                      ORDER BY order_datetime DESC) AS nth_latest
            FROM Unified_Transactions),
        expected AS (
            SELECT amperity_id,
                   sum(order_revenue) AS revenue,
                   count(*) AS frequency,
                   sum(order_quantity) AS items,
                   sum(CASE WHEN order_datetime >= DATE '{AS_OF}' - INTERVAL 12 MONTH
                            THEN order_revenue ELSE 0 END) AS l12m_revenue,
                   sum(CASE WHEN order_datetime >= DATE '{AS_OF}' - INTERVAL 12 MONTH
                            THEN 1 ELSE 0 END) AS l12m_frequency,
                   sum(CASE WHEN order_datetime >= DATE '{AS_OF}' - INTERVAL 30 DAY
                            THEN 1 ELSE 0 END) AS l30d_frequency,
                   min(order_datetime) AS first_at,
                   max(order_datetime) AS latest_at,
                   max(CASE WHEN nth = 2 THEN order_datetime END) AS second_at,
                   max(CASE WHEN nth = 1 THEN purchase_channel END) AS first_channel,
                   max(CASE WHEN nth_latest = 1 THEN purchase_channel END) AS latest_channel,
                   max(CASE WHEN nth = 1 THEN purchase_brand END) AS first_brand,
                   count(DISTINCT purchase_brand) AS brands,
                   count(DISTINCT purchase_channel) AS channels
            FROM orders GROUP BY amperity_id)
        SELECT e.amperity_id
        FROM expected e FULL JOIN Transaction_Attributes_Extended t USING (amperity_id)
        WHERE t.lifetime_order_revenue IS DISTINCT FROM e.revenue
           OR t.lifetime_order_frequency IS DISTINCT FROM e.frequency
           OR t.lifetime_total_items IS DISTINCT FROM e.items
           OR t.lifetime_average_order_value
              IS DISTINCT FROM CAST(e.revenue / e.frequency AS DECIMAL(38, 2))
           OR t.l12m_order_revenue IS DISTINCT FROM e.l12m_revenue
           OR t.l12m_order_frequency IS DISTINCT FROM e.l12m_frequency
           OR t.l30d_order_frequency IS DISTINCT FROM e.l30d_frequency
           OR t.first_order_datetime IS DISTINCT FROM e.first_at
           OR t.second_order_datetime IS DISTINCT FROM e.second_at
           OR t.latest_order_datetime IS DISTINCT FROM e.latest_at
           OR t.days_since_latest_order
              IS DISTINCT FROM (DATE '{AS_OF}' - CAST(e.latest_at AS DATE))
           OR t.first_order_channel IS DISTINCT FROM e.first_channel
           OR t.latest_order_channel IS DISTINCT FROM e.latest_channel
           OR t.first_order_brand IS DISTINCT FROM e.first_brand
           OR t.one_and_done IS DISTINCT FROM (e.frequency = 1)
           OR t.multi_purchase_brand IS DISTINCT FROM (e.brands > 1)
           OR t.multi_purchase_channel IS DISTINCT FROM (e.channels > 1)
           OR t.early_repeat_purchaser
              IS DISTINCT FROM coalesce(e.second_at <= e.first_at + INTERVAL 90 DAY, false)
        LIMIT 5""").fetchall()
    assert mismatches == []


def test_tae_preferred_channel_and_brand_are_the_most_frequent(
    con: duckdb.DuckDBPyConnection,
) -> None:
    wrong = scalar(
        con,
        """
        WITH counts AS (
            SELECT amperity_id, purchase_channel, count(*) AS n
            FROM Unified_Transactions GROUP BY ALL),
        best AS (SELECT amperity_id, max(n) AS n FROM counts GROUP BY ALL)
        SELECT count(*) FROM Transaction_Attributes_Extended t
        JOIN best b USING (amperity_id)
        WHERE (SELECT c.n FROM counts c WHERE c.amperity_id = t.amperity_id
                 AND c.purchase_channel = t.lifetime_preferred_channel) IS DISTINCT FROM b.n""",
    )
    assert wrong == 0
    assert (
        scalar(
            con,
            "SELECT count(*) FROM Transaction_Attributes_Extended "
            "WHERE lifetime_preferred_brand IS NULL",
        )
        == 0
    )


def test_only_purchasers_have_a_tae_row(con: duckdb.DuckDBPyConnection) -> None:
    purchasers = scalar(con, "SELECT count(DISTINCT amperity_id) FROM Unified_Transactions")
    assert scalar(con, "SELECT count(*) FROM Transaction_Attributes_Extended") == purchasers
    assert (
        scalar(
            con,
            """
        SELECT count(*) FROM Customer_360 c
        LEFT JOIN Transaction_Attributes_Extended t USING (amperity_id)
        WHERE t.amperity_id IS NULL
          AND (c.lifetime_order_revenue <> 0 OR c.lifetime_order_frequency <> 0
               OR c.latest_order_datetime IS NOT NULL OR c.preferred_channel IS NOT NULL)
        """,
        )
        == 0
    )
    assert (
        scalar(con, "SELECT count(*) FROM Customer_360 WHERE lifetime_order_frequency = 0")
        == CUSTOMERS - purchasers
    )  # type: ignore[operator]


def test_customer_360_summary_equals_tae(con: duckdb.DuckDBPyConnection) -> None:
    assert (
        scalar(
            con,
            """
        SELECT count(*) FROM Customer_360 c JOIN Transaction_Attributes_Extended t
        USING (amperity_id)
        WHERE c.lifetime_order_revenue <> t.lifetime_order_revenue
           OR c.lifetime_order_frequency <> t.lifetime_order_frequency
           OR c.latest_order_datetime <> t.latest_order_datetime
           OR c.preferred_channel <> t.lifetime_preferred_channel
           OR c.preferred_brand <> t.lifetime_preferred_brand""",
        )
        == 0
    )
    tiers = dict(
        con.execute("""
        SELECT coalesce(loyalty_tier, 'none'), count(*) FROM Customer_360 GROUP BY 1""").fetchall()
    )
    assert set(tiers) <= {"none", "Bronze", "Silver", "Gold", "Platinum"}
    assert 0.3 < 1 - tiers["none"] / CUSTOMERS < 0.5
    assert (
        scalar(
            con,
            "SELECT count(*) FROM Customer_360 "
            "WHERE (loyalty_tier IS NULL) <> (loyalty_points IS NULL)",
        )
        == 0
    )


# --- without line items -------------------------------------------------------------------------


def test_without_items(tmp_path: Path) -> None:
    path = tmp_path / "orders_only.duckdb"
    summary = generate_demo_database(
        path, customers=1_000, seed=3, as_of=AS_OF, orders_per_customer=4.0, items=False
    )
    assert "Unified_Itemized_Transactions" not in summary.rows
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert tables == set(TABLES) - {"Unified_Itemized_Transactions"}
        orders, revenue, bad = con.execute("""
            SELECT count(*), avg(order_revenue),
                   count(*) FILTER (WHERE order_revenue <= 0 OR order_quantity < 1
                                    OR order_discount_amount < 0)
            FROM Unified_Transactions""").fetchall()[0]
        assert 3_200 < orders < 4_800
        assert 55 < float(revenue) < 110
        assert bad == 0
        assert (
            scalar(
                con,
                """
            SELECT count(*) FROM Transaction_Attributes_Extended
            WHERE lifetime_total_items IS NULL OR lifetime_order_frequency < 1""",
            )
            == 0
        )


def test_no_orders_at_all(tmp_path: Path) -> None:
    summary = generate_demo_database(
        tmp_path / "none.duckdb", customers=30, as_of=AS_OF, orders_per_customer=0.0
    )
    assert summary.rows["Unified_Transactions"] == 0
    assert summary.rows["Transaction_Attributes_Extended"] == 0
    assert summary.rows["Customer_360"] == 30


def test_as_of_defaults_to_today_utc(tmp_path: Path) -> None:
    summary = generate_demo_database(tmp_path / "today.duckdb", customers=30)
    assert summary.as_of == datetime.datetime.now(datetime.UTC).date()
    with duckdb.connect(str(tmp_path / "today.duckdb"), read_only=True) as con:
        latest = scalar(con, "SELECT max(order_datetime) FROM Unified_Transactions")
    assert isinstance(latest, datetime.datetime)
    assert latest.date() < summary.as_of
