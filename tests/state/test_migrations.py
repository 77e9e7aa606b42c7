"""Alembic migrations: opening a store upgrades any older schema to head, idempotently."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from herald.exceptions import StateError
from herald.state import StateStore, _migrate
from herald.state._engine import WRITE_OPTION, create_state_engine
from herald.state._schema import metadata

REVISIONS = [
    script.revision
    for script in reversed(
        list(ScriptDirectory.from_config(_migrate.alembic_config()).walk_revisions())
    )
]
TABLES = {
    "alembic_version",
    "definitions",
    "definition_versions",
    "insights",
    "campaign_state",
    "runs",
}


@pytest.fixture
def engine(url):
    engine = create_state_engine(url)
    yield engine
    engine.dispose()


def migrate(engine, revision, *, down=False):
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            (_migrate.downgrade if down else _migrate.upgrade)(conn, revision)


def revision_rows(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()


def table_names(engine):
    return set(sa.inspect(engine).get_table_names())


def test_the_first_revision_is_0001_and_head_is_the_last():
    assert REVISIONS[0] == "0001"
    assert _migrate.head_revision() == REVISIONS[-1]


def test_opening_an_empty_database_creates_the_schema_at_head(engine, url):
    assert table_names(engine) == set()

    StateStore.open(url).close()

    assert table_names(engine) == TABLES
    assert revision_rows(engine) == [_migrate.head_revision()]


@pytest.mark.parametrize("revision", REVISIONS)
def test_a_database_at_any_revision_is_upgraded_to_head(engine, url, revision):
    migrate(engine, revision)
    assert revision_rows(engine) == [revision]

    with StateStore.open(url) as store:
        store.save_draft("segment", "vip", {"where": {"all": []}})

    assert revision_rows(engine) == [_migrate.head_revision()]


def test_upgrading_keeps_the_data(engine, url):
    migrate(engine, "0001")
    with StateStore.open(url) as store:
        store.save_draft("segment", "vip", {"a": 1}, description="kept")
        active = store.activate("segment", "vip")

    with StateStore.open(url) as store:
        assert store.get("segment", "vip", "active") == active


def test_upgrade_is_idempotent(engine, url):
    StateStore.open(url).close()
    migrate(engine, "head")  # directly, as well as through open()
    StateStore.open(url).close()

    assert revision_rows(engine) == [_migrate.head_revision()]
    assert table_names(engine) == TABLES


def test_downgrade_to_base_and_up_again(engine, url):
    StateStore.open(url).close()

    migrate(engine, "base", down=True)
    assert table_names(engine) <= {"alembic_version"}

    StateStore.open(url).close()
    assert revision_rows(engine) == [_migrate.head_revision()]


def test_the_tables_the_code_uses_match_the_migrations(engine, url):
    StateStore.open(url).close()

    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)

    assert differences == []


def test_a_database_from_a_newer_herald_is_refused(engine, url):
    StateStore.open(url).close()
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": "9999_future"})

    with pytest.raises(StateError, match=r"revision '9999_future'.*upgrade Herald"):
        StateStore.open(url)
