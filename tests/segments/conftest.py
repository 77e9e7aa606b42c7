"""A real workspace over a small hand-built customer database with the standard tables.

The demo generator is not used here: these tests need a database that is quick to build and
whose contents do not change when the generator does.
"""

# ruff: noqa: E501 - table-like SQL schemas and YAML snippets
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from herald.workspace import Workspace

STANDARD_TABLES = {
    "Customer_360": "amperity_id VARCHAR, email VARCHAR, state VARCHAR, "
    "postal VARCHAR, "
    "loyalty_tier VARCHAR, birthdate DATE, created_at TIMESTAMP",
    "Merged_Customers": "amperity_id VARCHAR, given_name VARCHAR, surname VARCHAR, email VARCHAR",
    "Customer_Attributes": "amperity_id VARCHAR, is_opted_into_email BOOLEAN, contactable_email BOOLEAN, "
    "contactable_phone BOOLEAN, contactable_address BOOLEAN, is_employee BOOLEAN, is_test_account BOOLEAN",
    "Transaction_Attributes_Extended": "amperity_id VARCHAR, lifetime_order_revenue DECIMAL(38,2), "
    "lifetime_order_frequency INTEGER, l12m_order_revenue DECIMAL(38,2), l12m_order_frequency INTEGER",
    "Unified_Transactions": "amperity_id VARCHAR, order_id VARCHAR, order_datetime TIMESTAMP, "
    "order_revenue DECIMAL(38,2), purchase_channel VARCHAR",
    "Unified_Itemized_Transactions": "amperity_id VARCHAR, order_id VARCHAR, order_datetime TIMESTAMP, "
    "product_category VARCHAR, item_revenue DECIMAL(38,2), is_return BOOLEAN",
}


def build_standard_database(path: Path) -> None:
    con = duckdb.connect(str(path))
    try:
        for table, columns in STANDARD_TABLES.items():
            con.execute(f"CREATE TABLE {table} ({columns})")
        con.execute(
            "INSERT INTO Customer_360 VALUES ('c1', 'a@example.com', 'CA', '98101', 'Gold', "
            "DATE '1990-01-01', TIMESTAMP '2024-01-01 10:00:00')"
        )
    finally:
        con.close()


@pytest.fixture(scope="session")
def standard_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("standard") / "customers.duckdb"
    build_standard_database(path)
    return path


@pytest.fixture
def workspace(tmp_path: Path, standard_database: Path) -> Iterator[Workspace]:
    with Workspace.init(tmp_path / "ws", database=str(standard_database)) as ws:
        yield ws
