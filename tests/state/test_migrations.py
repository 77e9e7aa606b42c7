"""Alembic migrations: opening a store upgrades any older schema to head, idempotently."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from herald.exceptions import StateError
from herald.state import StateStore, _migrate
from herald.state._engine import WRITE_OPTION, create_state_engine
from herald.state._schema import definition_versions, definitions, insights, metadata

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
    "list_ids",
    "deliveries",
    "batches",
    "schedules",
    "schedule_slots",
    "run_events",
    "web_users",
}
TABLES_OF_0003 = {"list_ids", "deliveries", "batches"}
TABLES_OF_0004 = {"schedules", "schedule_slots", "run_events"}
TABLES_OF_0005 = {"web_users"}
TABLES_AT_0001 = (
    TABLES - {"campaign_state", "runs"} - TABLES_OF_0003 - TABLES_OF_0004 - TABLES_OF_0005
)


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


# --- 0001 → 0002: campaign state and runs ------------------------------------------------------

AT = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


def write_at_0001(engine):
    """Rows as a Herald at revision 0001 wrote them: a segment with history, a campaign."""

    def insert(conn, table, **values):
        return conn.execute(table.insert().values(**values)).inserted_primary_key[0]

    ids = {}
    with engine.begin() as conn:
        for kind, name, statuses in (("segment", "vip", ["retired", "active"]),
                                     ("campaign", "spring", ["active"])):  # fmt: skip
            ids[name] = definition_id = insert(
                conn, definitions, kind=kind, name=name, created_at=AT, updated_at=AT
            )
            for version, status in enumerate(statuses, start=1):
                insert(
                    conn,
                    definition_versions,
                    definition_id=definition_id,
                    version=version,
                    status=status,
                    definition_json=f'{{"v":{version}}}',
                    content_hash=f"{version:064x}",
                    created_at=AT,
                    activated_at=AT,
                )
        insert(
            conn,
            insights,
            definition_id=ids["vip"],
            version=2,
            computed_at=AT,
            as_of=AT,
            metrics_json='{"count":42}',
        )


def test_upgrading_0001_to_0002_keeps_segment_data_and_adds_campaign_state(engine, url):
    migrate(engine, "0001")
    write_at_0001(engine)
    assert table_names(engine) == TABLES_AT_0001

    migrate(engine, "0002")

    assert table_names(engine) == TABLES - TABLES_OF_0003 - TABLES_OF_0004 - TABLES_OF_0005
    with StateStore.open(url) as store:
        assert [(v.version, v.status) for v in store.versions("segment", "vip")] == [
            (1, "retired"),
            (2, "active"),
        ]
        active = store.get("segment", "vip", "active")
        assert (active.definition, active.description, active.created_at) == ({"v": 2}, None, AT)
        [record] = store.insights_history("vip")
        assert (record.version, record.metrics, record.computed_at) == (2, {"count": 42}, AT)
        # A campaign saved before 0002 is a draft and gets its uid when first asked.
        assert store.campaign_status("spring").status == "draft"
        uid = store.campaign_uid("spring")
        store.save_draft("campaign", "spring", {"v": 2})
        assert store.campaign_uid("spring") == uid
        assert store.list_runs() == []


def test_downgrading_0002_drops_only_campaign_state_and_runs(engine, url):
    migrate(engine, "0001")
    write_at_0001(engine)
    with StateStore.open(url) as store:
        store.set_campaign_status("spring", "scheduled")
        store.create_run("spring", 1, as_of=AT, pins={"vip": 2})

    migrate(engine, "0001", down=True)

    assert table_names(engine) == TABLES_AT_0001
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(insights)).scalar() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(definitions)).scalar() == 2
