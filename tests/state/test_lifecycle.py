"""The versioned-definition lifecycle, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import re
from datetime import UTC

import pytest

from herald.exceptions import DefinitionError, NotFoundError, StateError
from herald.state import DefinitionVersion, SaveResult, StateStore
from herald.state._rules import content_hash

VIP = {"where": {"all": [{"column": "Customer_360.ltv", "op": ">", "value": 1000}]}}
VIP2 = {"where": {"all": [{"column": "Customer_360.ltv", "op": ">", "value": 2000}]}}
VIP3 = {"where": {"all": [{"column": "Customer_360.ltv", "op": ">", "value": 3000}]}}


def statuses(store: StateStore, name: str = "vip") -> list[tuple[int, str]]:
    return [(v.version, v.status) for v in store.versions("segment", name)]


# --- save_draft -----------------------------------------------------------------------------


def test_save_draft_on_a_new_name_creates_version_1_as_draft(store):
    result = store.save_draft("segment", "vip", VIP, description="big spenders")

    assert isinstance(result, SaveResult)
    assert result.changed is True
    version = result.version
    assert (version.kind, version.name, version.version, version.status) == (
        "segment", "vip", 1, "draft",
    )  # fmt: skip
    assert version.definition == VIP
    assert version.content_hash == content_hash(VIP)
    assert version.description == "big spenders"
    assert version.created_at.tzinfo is UTC
    assert version.activated_at is None


def test_saving_over_a_draft_updates_it_in_place(store):
    store.save_draft("segment", "vip", VIP)
    result = store.save_draft("segment", "vip", VIP2)

    assert result.changed is True
    assert result.version.version == 1
    assert result.version.definition == VIP2
    assert statuses(store) == [(1, "draft")]


def test_saving_the_same_content_again_writes_nothing(store):
    first = store.save_draft("segment", "vip", {"b": 1, "a": [1, 2]}, description="d")
    before = store.list("segment")[0].updated_at

    # Key order does not count: the canonical hash is equal.
    again = store.save_draft("segment", "vip", {"a": [1, 2], "b": 1})

    assert again.changed is False
    assert again.version == first.version
    assert store.list("segment")[0].updated_at == before


def test_a_new_description_alone_is_a_change(store):
    store.save_draft("segment", "vip", VIP, description="old")
    result = store.save_draft("segment", "vip", VIP, description="new")

    assert result.changed is True
    assert result.version.description == "new"
    assert store.list("segment")[0].description == "new"


def test_saving_without_description_keeps_the_existing_one(store):
    store.save_draft("segment", "vip", VIP, description="kept")
    store.activate("segment", "vip")

    draft = store.save_draft("segment", "vip", VIP2).version

    assert draft.description == "kept"


def test_editing_an_active_definition_makes_a_new_draft_beside_it(store):
    store.save_draft("segment", "vip", VIP)
    active = store.activate("segment", "vip")

    result = store.save_draft("segment", "vip", VIP2)

    assert result.version.version == 2
    assert result.version.status == "draft"
    assert store.get("segment", "vip", "active") == active  # frozen: not touched at all
    assert statuses(store) == [(1, "active"), (2, "draft")]


def test_further_edits_go_to_the_same_new_draft(store):
    store.save_draft("segment", "vip", VIP)
    store.activate("segment", "vip")
    store.save_draft("segment", "vip", VIP2)

    result = store.save_draft("segment", "vip", VIP3)

    assert result.version.version == 2
    assert statuses(store) == [(1, "active"), (2, "draft")]


def test_definition_is_returned_with_its_key_order(store):
    definition = {"z": 1, "a": {"y": 2, "b": "é"}}
    store.save_draft("segment", "vip", definition)

    got = store.get("segment", "vip").definition

    assert list(got) == ["z", "a"]
    assert list(got["a"]) == ["y", "b"]


# --- activate -------------------------------------------------------------------------------


def test_activate_turns_the_draft_active(store):
    store.save_draft("segment", "vip", VIP)

    active = store.activate("segment", "vip")

    assert isinstance(active, DefinitionVersion)
    assert (active.version, active.status) == (1, "active")
    assert active.activated_at is not None
    assert active.activated_at.tzinfo is UTC
    assert active.activated_at >= active.created_at


def test_activating_retires_the_previous_active_version(store):
    store.save_draft("segment", "vip", VIP)
    first = store.activate("segment", "vip")
    store.save_draft("segment", "vip", VIP2)

    second = store.activate("segment", "vip")

    assert second.version == 2
    assert statuses(store) == [(1, "retired"), (2, "active")]
    retired = store.get("segment", "vip", 1)
    assert retired.activated_at == first.activated_at  # history keeps when it went live
    assert retired.definition == VIP


def test_three_generations(store):
    for definition in (VIP, VIP2, VIP3):
        store.save_draft("segment", "vip", definition)
        store.activate("segment", "vip")

    assert statuses(store) == [(1, "retired"), (2, "retired"), (3, "active")]
    assert store.get("segment", "vip", "active").definition == VIP3


def test_activate_without_draft_says_it_is_already_active(store):
    store.save_draft("segment", "vip", VIP)
    store.activate("segment", "vip")

    with pytest.raises(StateError) as raised:
        store.activate("segment", "vip")

    message = str(raised.value)
    assert "segment 'vip' has no draft to activate" in message
    assert "already active at version 1" in message
    assert "edit it first" in message


def test_activate_unknown_name_suggests_a_close_one(store):
    store.save_draft("segment", "high_value", VIP)

    with pytest.raises(
        NotFoundError, match=r"segment 'hig_value' not found; did you mean 'high_value'\?"
    ):
        store.activate("segment", "hig_value")


# --- get ------------------------------------------------------------------------------------


def test_get_by_status_number_and_latest(store):
    store.save_draft("segment", "vip", VIP)
    store.activate("segment", "vip")
    store.save_draft("segment", "vip", VIP2)

    assert store.get("segment", "vip", "active").definition == VIP
    assert store.get("segment", "vip", "draft").definition == VIP2
    assert store.get("segment", "vip", "latest").version == 2
    assert store.get("segment", "vip").version == 2
    assert store.get("segment", "vip", 1).definition == VIP


def test_get_active_of_a_draft_only_name_says_how_to_activate(store):
    store.save_draft("segment", "vip", VIP)

    with pytest.raises(NotFoundError) as raised:
        store.get("segment", "vip", "active")

    assert str(raised.value) == (
        "segment 'vip' has no active version; "
        "activate the draft (version 1) with `herald segment activate vip`"
    )


def test_suggested_command_quotes_names_for_the_shell(store):
    store.save_draft("segment", "big spenders", VIP)

    with pytest.raises(NotFoundError, match=re.escape("`herald segment activate 'big spenders'`")):
        store.get("segment", "big spenders", "active")


def test_get_draft_when_only_active_names_the_active_version(store):
    store.save_draft("segment", "vip", VIP)
    store.activate("segment", "vip")

    with pytest.raises(
        NotFoundError, match=r"segment 'vip' has no draft; it is active at version 1"
    ):
        store.get("segment", "vip", "draft")


def test_get_missing_version_number_lists_what_exists(store):
    store.save_draft("segment", "vip", VIP)
    store.activate("segment", "vip")
    store.save_draft("segment", "vip", VIP2)

    with pytest.raises(NotFoundError, match=r"segment 'vip' has no version 7; it has versions 1–2"):
        store.get("segment", "vip", 7)


def test_get_unknown_name_without_close_match_points_to_list(store):
    store.save_draft("segment", "vip", VIP)

    with pytest.raises(NotFoundError, match=r"segment 'zzz' not found; `herald segment list`"):
        store.get("segment", "zzz")


def test_get_in_an_empty_store_says_nothing_exists(store):
    with pytest.raises(NotFoundError, match=r"segment 'vip' not found; no segments exist yet"):
        store.get("segment", "vip")


def test_get_rejects_a_bad_selector(store):
    store.save_draft("segment", "vip", VIP)

    with pytest.raises(ValueError, match="which must be"):
        store.get("segment", "vip", "newest")  # type: ignore[arg-type]


# --- names and kinds ------------------------------------------------------------------------


def test_names_are_case_sensitive(store):
    store.save_draft("segment", "VIP", VIP)
    store.save_draft("segment", "vip", VIP2)

    assert [s.name for s in store.list("segment")] == ["VIP", "vip"]
    assert store.get("segment", "VIP").definition == VIP


def test_kinds_are_separate_namespaces(store):
    store.save_draft("segment", "spring", VIP)
    store.save_draft("campaign", "spring", {"audience": {"include": ["vip"]}})

    assert [s.name for s in store.list("segment")] == ["spring"]
    assert store.get("campaign", "spring").definition == {"audience": {"include": ["vip"]}}
    with pytest.raises(NotFoundError, match="campaign 'vip' not found"):
        store.get("campaign", "vip")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "must not be empty"),
        (" vip", "must not start or end with whitespace"),
        ("vip\n", "must not start or end with whitespace"),
        ("x" * 201, "201 characters long; the limit is 200"),
        (42, "must be a string"),
    ],
)
def test_invalid_names_are_refused(store, name, problem):
    with pytest.raises(DefinitionError, match=re.escape(problem)) as raised:
        store.save_draft("segment", name, VIP)

    assert raised.value.location == "name"
    assert store.list("segment") == []


def test_a_name_of_200_characters_and_inner_spaces_is_fine(store):
    long_name = "a b" + "x" * 197

    store.save_draft("segment", long_name, VIP)

    assert store.get("segment", long_name).name == long_name


def test_definition_must_be_json(store):
    with pytest.raises(DefinitionError, match="segment 'vip': definition cannot be stored as JSON"):
        store.save_draft("segment", "vip", {"when": object()})
    with pytest.raises(DefinitionError, match="must be a mapping"):
        store.save_draft("segment", "vip", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match="JSON"):
        store.save_draft("segment", "vip", {"x": float("nan")})


def test_unknown_kind_is_a_programming_error(store):
    with pytest.raises(
        ValueError, match=r"unknown definition kind 'segmnt'; did you mean 'segment'\?"
    ):
        store.list("segmnt")


# --- list and versions ----------------------------------------------------------------------


def test_list_summarises_each_name(store):
    store.save_draft("segment", "b_draft_only", VIP, description="b")
    store.save_draft("segment", "a_both", VIP)
    store.activate("segment", "a_both")
    store.save_draft("segment", "a_both", VIP2, description="a")
    store.save_draft("segment", "c_active", VIP)
    store.activate("segment", "c_active")

    summaries = store.list("segment")

    assert [(s.name, s.active_version, s.draft_version, s.description) for s in summaries] == [
        ("a_both", 1, 2, "a"),
        ("b_draft_only", None, 1, "b"),
        ("c_active", 1, None, None),
    ]
    assert all(s.kind == "segment" and s.updated_at.tzinfo is UTC for s in summaries)


def test_versions_of_unknown_name(store):
    with pytest.raises(NotFoundError, match="segment 'vip' not found"):
        store.versions("segment", "vip")


# --- delete ---------------------------------------------------------------------------------


def test_delete_a_draft_only_name(store):
    store.save_draft("segment", "vip", VIP)

    store.delete("segment", "vip")

    assert store.list("segment") == []
    with pytest.raises(NotFoundError):
        store.get("segment", "vip")
    # The name is free again and starts over at version 1.
    assert store.save_draft("segment", "vip", VIP2).version.version == 1


def test_delete_refuses_an_active_definition_and_says_to_archive(store):
    store.save_draft("segment", "vip", VIP)
    store.activate("segment", "vip")
    store.save_draft("segment", "vip", VIP2)

    with pytest.raises(StateError) as raised:
        store.delete("segment", "vip")

    message = str(raised.value)
    assert "segment 'vip' cannot be deleted: version 1 is active" in message
    assert "archive it instead" in message
    assert statuses(store) == [(1, "active"), (2, "draft")]


def test_delete_unknown_name(store):
    with pytest.raises(NotFoundError, match="segment 'vip' not found"):
        store.delete("segment", "vip")


# --- persistence ----------------------------------------------------------------------------


def test_state_survives_reopening(store, open_store):
    store.save_draft("segment", "vip", VIP, description="d")
    active = store.activate("segment", "vip")
    store.close()

    reopened = open_store()

    assert reopened.get("segment", "vip", "active") == active
