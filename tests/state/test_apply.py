"""Declarative apply: idempotent, and writing nothing when nothing changes."""

from __future__ import annotations

import pytest

from herald.state import ApplyResult

A = {"where": {"all": [{"column": "Customer_360.state", "op": "is", "value": "WA"}]}}
B = {"where": {"all": [{"column": "Customer_360.state", "op": "is", "value": "OR"}]}}


def snapshot(store, name="vip"):
    """Everything the store holds about a name, timestamps included."""
    return store.list("segment"), store.versions("segment", name)


@pytest.mark.parametrize("status", ["draft", "active"])
def test_apply_creates_a_new_name_in_the_desired_status(store, status):
    result = store.apply("segment", "vip", A, status=status, description="wa")

    assert isinstance(result, ApplyResult)
    assert result.action == "created"
    assert (result.version.version, result.version.status) == (1, status)
    assert result.version.description == "wa"


@pytest.mark.parametrize("status", ["draft", "active"])
def test_applying_twice_changes_nothing_not_even_timestamps(store, status):
    first = store.apply("segment", "vip", A, status=status)
    before = snapshot(store)

    again = store.apply("segment", "vip", dict(reversed(list(A.items()))), status=status)

    assert again.action == "unchanged"
    assert again.version == first.version
    assert snapshot(store) == before


def test_apply_active_with_new_content_saves_and_activates(store):
    store.apply("segment", "vip", A, status="active")

    result = store.apply("segment", "vip", B, status="active")

    assert result.action == "activated"
    assert (result.version.version, result.version.status) == (2, "active")
    assert [(v.version, v.status) for v in store.versions("segment", "vip")] == [
        (1, "retired"),
        (2, "active"),
    ]


def test_apply_active_activates_an_existing_draft_with_that_content(store):
    store.apply("segment", "vip", A, status="active")
    store.save_draft("segment", "vip", A | {"note": 1})

    result = store.apply("segment", "vip", B, status="active")

    # The draft (version 2) is rewritten with B and activated; no version 3.
    assert (result.action, result.version.version) == ("activated", 2)
    assert [v.version for v in store.versions("segment", "vip")] == [1, 2]


def test_apply_draft_updates_the_draft_and_leaves_active_alone(store):
    active = store.apply("segment", "vip", A, status="active").version

    created = store.apply("segment", "vip", B, status="draft")
    updated = store.apply("segment", "vip", B | {"x": 1}, status="draft")

    assert (created.action, created.version.version) == ("updated", 2)
    assert (updated.action, updated.version.version) == ("updated", 2)
    assert store.get("segment", "vip", "active") == active


def test_apply_draft_with_the_active_content_and_no_draft_is_unchanged(store):
    active = store.apply("segment", "vip", A, status="active").version
    before = snapshot(store)

    result = store.apply("segment", "vip", A, status="draft")

    assert result.action == "unchanged"
    assert result.version == active
    assert snapshot(store) == before


def test_apply_active_with_the_active_content_leaves_a_pending_draft_alone(store):
    store.apply("segment", "vip", A, status="active")
    store.save_draft("segment", "vip", B)
    before = snapshot(store)

    result = store.apply("segment", "vip", A, status="active")

    assert result.action == "unchanged"
    assert snapshot(store) == before


def test_apply_with_a_new_description_is_a_change(store):
    store.apply("segment", "vip", A, status="draft", description="old")

    result = store.apply("segment", "vip", A, status="draft", description="new")

    assert result.action == "updated"
    assert result.version.description == "new"


def test_apply_without_description_keeps_it_and_is_unchanged(store):
    store.apply("segment", "vip", A, status="active", description="kept")

    result = store.apply("segment", "vip", A, status="active")

    assert result.action == "unchanged"
    assert result.version.description == "kept"


def test_apply_rejects_other_statuses(store):
    with pytest.raises(ValueError, match="apply status must be 'draft' or 'active'"):
        store.apply("segment", "vip", A, status="retired")  # type: ignore[arg-type]
    assert store.list("segment") == []
