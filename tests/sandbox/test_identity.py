"""Identity invariants of the profile store, under any mix of creates, upserts and bulk rows."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.sandbox.errors import ApiError
from herald.sandbox.state import SandboxState

EMAILS = st.sampled_from(["a@x.io", "A@X.io", "b@x.io", "c@x.io", None])
PHONES = st.sampled_from(["+15005550001", "+15005550002", None])
EXTERNAL = st.sampled_from(["e1", "e2", "e3", None])
ATTRS = st.fixed_dictionaries({"email": EMAILS, "phone_number": PHONES, "external_id": EXTERNAL})
CALLS = st.lists(st.tuples(st.sampled_from(["create", "upsert", "bulk"]), ATTRS), max_size=25)


def _apply(state: SandboxState, call: str, attrs: dict[str, Any]) -> None:
    attrs = {k: v for k, v in attrs.items() if v is not None}
    refused: ApiError | None = None
    try:
        if call == "create":
            state.create_profile(attrs)
        elif call == "upsert":
            state.upsert_profile(None, attrs)
        elif attrs:
            state.book.bulk_upsert(None, attrs)
    except ApiError as err:
        refused = err
    assert refused is None or refused.status in (400, 409)


@settings(max_examples=150, deadline=None)
@given(CALLS)
def test_no_two_profiles_share_an_identifier(calls: list[tuple[str, dict[str, Any]]]) -> None:
    state = SandboxState(time.time)
    for call, attrs in calls:
        _apply(state, call, attrs)
    for name in ("email", "phone_number", "external_id"):
        values = [getattr(p, name) for p in state.profiles() if getattr(p, name)]
        assert len(values) == len({v.lower() for v in values}), name
        for value in values:
            found = state.find_profile(**{name: value})
            assert found is not None
            assert getattr(found, name) == value


@settings(max_examples=100, deadline=None)
@given(ATTRS)
def test_create_then_create_again_is_409_with_the_first_id(attrs: dict[str, Any]) -> None:
    attrs = {k: v for k, v in attrs.items() if v is not None}
    state = SandboxState(time.time)
    if not attrs:  # a profile needs at least one identifier
        with pytest.raises(ApiError, match="is required"):
            state.create_profile(attrs)
        return
    first = state.create_profile(attrs)
    with pytest.raises(ApiError) as info:
        state.create_profile(attrs)
    err = info.value
    assert (err.status, err.code, err.meta) == (
        409,
        "duplicate_profile",
        {"duplicate_profile_id": first.id},
    )
