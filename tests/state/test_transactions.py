"""Every mutating method is one transaction: when it fails, nothing it did remains.

Failures are injected with a real database trigger (no mocks): it refuses one kind of
write in the middle of a method, after that method has already written something else.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from herald.exceptions import StateError
from herald.state._engine import create_state_engine

A = {"where": {"all": []}}
B = {"where": {"any": []}}

_SQLITE = {
    "activation": """
        CREATE TRIGGER refuse BEFORE UPDATE OF status ON definition_versions
        WHEN NEW.status = 'active'
        BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END
    """,
    "new version": """
        CREATE TRIGGER refuse BEFORE INSERT ON definition_versions
        BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END
    """,
}
_POSTGRES = {
    "activation": "BEFORE UPDATE OF status ON definition_versions FOR EACH ROW "
    "WHEN (NEW.status = 'active')",
    "new version": "BEFORE INSERT ON definition_versions FOR EACH ROW",
}


def refuse(url: str, what: str) -> None:
    """Install a trigger that makes the database refuse ``what``."""
    engine = create_state_engine(url)
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(_SQLITE[what])
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused by test trigger'; END $$"
            )
            conn.exec_driver_sql(
                f"CREATE TRIGGER refuse {_POSTGRES[what]} EXECUTE FUNCTION refuse()"
            )
    engine.dispose()


def everything(store):
    summaries = store.list("segment")
    return summaries, {s.name: store.versions("segment", s.name) for s in summaries}


def test_a_failing_activate_leaves_every_version_as_it_was(store, url):
    store.save_draft("segment", "vip", A)
    store.activate("segment", "vip")
    store.save_draft("segment", "vip", B)
    before = everything(store)
    refuse(url, "activation")

    # The previous active version is retired first; the trigger then refuses the draft.
    with pytest.raises(StateError, match="refused by test trigger"):
        store.activate("segment", "vip")

    assert everything(store) == before
    assert store.get("segment", "vip", "active").version == 1


def test_a_failing_apply_active_leaves_no_draft_behind(store, url):
    store.apply("segment", "vip", A, status="active")
    before = everything(store)
    refuse(url, "activation")

    with pytest.raises(StateError, match="refused by test trigger"):
        store.apply("segment", "vip", B, status="active")

    assert everything(store) == before


def test_a_failing_first_save_leaves_no_name_behind(store, url):
    refuse(url, "new version")

    # The name's row is written before its first version, which the trigger refuses.
    with pytest.raises(StateError, match="refused by test trigger"):
        store.save_draft("segment", "vip", A)

    assert store.list("segment") == []


def test_the_database_itself_allows_one_draft_and_one_active_per_name(store, url):
    store.save_draft("segment", "vip", A)
    store.activate("segment", "vip")
    store.save_draft("segment", "vip", B)
    engine = create_state_engine(url)
    try:
        for status in ("draft", "active"):
            with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
                conn.execute(sa.text("UPDATE definition_versions SET status = :s"), {"s": status})
    finally:
        engine.dispose()
    assert [(v.version, v.status) for v in store.versions("segment", "vip")] == [
        (1, "active"),
        (2, "draft"),
    ]
