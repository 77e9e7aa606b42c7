"""Who did what: every save, activation, schedule and run records its actor (the OS user for
the CLI, the signed-in user for the web app, ``scheduler`` for a slot), on both backends."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime

import pytest

from herald.actor import acting_as, current_actor
from herald.exceptions import NotFoundError
from herald.state import StateStore

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def test_without_a_name_the_actor_is_the_os_user() -> None:
    assert current_actor() == getpass.getuser()


def test_versions_record_who_saved_and_who_activated(store: StateStore) -> None:
    with acting_as("ana"):
        store.save_draft("segment", "vip", {"v": 1})
    with acting_as("ben"):
        store.save_draft("segment", "vip", {"v": 2})  # the draft rewritten in place
        active = store.activate("segment", "vip")

    assert (active.saved_by, active.activated_by) == ("ben", "ben")
    with acting_as("cleo"):
        draft = store.save_draft("segment", "vip", {"v": 3}).version
    assert (draft.saved_by, draft.activated_by) == ("cleo", None)
    assert store.get("segment", "vip", "active").saved_by == "ben"


def test_runs_and_schedules_record_who_started_them(store: StateStore) -> None:
    store.save_draft("campaign", "spring", {"a": 1})
    store.activate("campaign", "spring")
    with acting_as("ana"):
        store.schedule_campaign("spring", 1, {}, scheduled_at=NOW, next_at=NOW)
    with acting_as("scheduler"):
        record = store.claim_slot("spring", last_slot=None, slot=NOW, next_at=None, as_of=NOW)
    assert record is not None
    assert record.run_id is not None

    assert store.schedule("spring").scheduled_by == "ana"  # type: ignore[union-attr]
    assert store.get_run(record.run_id).started_by == "scheduler"


def test_web_users_keep_a_hash_and_a_role(store: StateStore) -> None:
    store.save_web_user("ana", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "viewer")
    promoted = store.save_web_user("ana", "$argon2id$other", "editor")

    assert (promoted.name, promoted.role, promoted.password_hash) == (
        "ana",
        "editor",
        "$argon2id$other",
    )
    assert "argon2" not in repr(promoted)
    assert [u.name for u in store.web_users()] == ["ana"]
    store.delete_web_user("ana")
    assert store.web_user("ana") is None
    with pytest.raises(NotFoundError, match="no web user 'ana'"):
        store.delete_web_user("ana")
    with pytest.raises(ValueError, match="web user role"):
        store.save_web_user("bo", "$argon2id$x", "admin")  # type: ignore[arg-type]
