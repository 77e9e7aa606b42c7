"""Batches of a delivery: bulk imports within both of Klaviyo's caps, and fixed row ranges."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.destinations.klaviyo_api import _plan
from herald.destinations.klaviyo_api import _protocol as P
from herald.destinations.klaviyo_api.limits import MAX_IMPORT_BYTES, MAX_PROFILE_BYTES

Profile = dict[str, Any]


def _chunks(profiles: Sequence[Profile], **caps: int) -> list[list[Profile]]:
    """The profiles cut as the sync cuts rows: by the byte size of each one's JSON."""
    sizes = np.array([len(orjson.dumps(p)) for p in profiles], dtype=np.int64)
    return [list(profiles[first : first + n]) for first, n in _plan.import_ranges(sizes, **caps)]


def _body_size(chunk: list[Profile], list_id: str = "L" * 26) -> int:
    if not chunk:
        return len(orjson.dumps(P.import_body([], list_id)))
    return len(P.start_import(chunk, list_id).encoded() or b"")


def _items_size(chunk: list[Profile]) -> int:
    """The bytes of a body's profiles: what the plan budgets, besides the envelope."""
    return _body_size(chunk) - _body_size([])


def test_split_by_count() -> None:
    profiles = [{"email": f"u{i}@x.io"} for i in range(25_001)]
    chunks = _chunks(profiles)
    assert [len(c) for c in chunks] == [10_000, 10_000, 5_001]
    assert [p for c in chunks for p in c] == profiles


def test_split_by_bytes_counts_the_envelope() -> None:
    # ~1 KB profiles: 10,000 of them would be ~10 MB, so bytes decide.
    profiles = [{"email": f"u{i}@x.io", "properties": {"note": "é" * 480}} for i in range(9_000)]
    chunks = _chunks(profiles)
    assert len(chunks) > 1
    assert all(_body_size(c) <= MAX_IMPORT_BYTES for c in chunks)
    # Greedy: adding the next profile to any chunk would have passed the limit, less at most
    # a kilobyte kept for the envelope (a slack this test owns, not the plan's constant).
    assert _plan.ENVELOPE <= 1_000
    for chunk, following in itertools.pairwise(chunks):
        assert _items_size([*chunk, following[0]]) >= MAX_IMPORT_BYTES - 1_000


def test_a_profile_near_the_limit_goes_alone_and_every_profile_sent_fits_alone() -> None:
    # A profile whose body is 10 bytes under the limit: nothing else fits beside it.
    shell = len(
        orjson.dumps(
            {"type": "profile", "attributes": {"email": "big@x.io", "properties": {"blob": ""}}}
        )
    )
    blob = "x" * (MAX_IMPORT_BYTES - 10 - _body_size([], "X" * 32) - shell)
    big = {"email": "big@x.io", "properties": {"blob": blob}}
    assert _body_size([big], "X" * 32) == MAX_IMPORT_BYTES - 10
    chunks = _chunks([{"email": "a@x.io"}, big, {"email": "b@x.io"}])
    assert [len(c) for c in chunks] == [1, 1, 1]
    assert all(_body_size(c) <= MAX_IMPORT_BYTES for c in chunks)
    # Oversized profiles never reach the plan: the diff leaves out any over Klaviyo's
    # per-profile cap (tests/runs/test_diff_streaming.py), and one at the cap fits alone in
    # the plan's budget, so no batch is ever planned over the body limit.
    assert MAX_PROFILE_BYTES + _plan.ITEM_OVERHEAD <= MAX_IMPORT_BYTES - _plan.ENVELOPE
    pad = MAX_PROFILE_BYTES - len(orjson.dumps({"email": "cap@x.io", "properties": {"blob": ""}}))
    at_cap = {"email": "cap@x.io", "properties": {"blob": "x" * pad}}
    assert len(orjson.dumps(at_cap)) == MAX_PROFILE_BYTES
    assert _chunks([at_cap] * 3) == [[at_cap] * 3]


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 300), max_size=60),
    max_count=st.integers(1, 12),
    max_bytes=st.integers(_plan.ENVELOPE + 900, _plan.ENVELOPE + 3_000),
)
def test_split_is_exhaustive_ordered_and_within_both_limits(
    sizes: list[int], max_count: int, max_bytes: int
) -> None:
    profiles = [{"email": f"u{i}@x.io", "properties": {"p": "y" * n}} for i, n in enumerate(sizes)]
    chunks = _chunks(profiles, max_count=max_count, max_bytes=max_bytes)
    assert [p for c in chunks for p in c] == profiles
    assert all(0 < len(c) <= max_count for c in chunks)
    assert all(_body_size(c) <= max_bytes for c in chunks)


def test_fixed_ranges_cover_every_row_once() -> None:
    assert _plan.fixed_ranges(0, 1_000) == []
    assert _plan.fixed_ranges(1_000, 1_000) == [(0, 1_000)]
    assert _plan.fixed_ranges(2_001, 1_000) == [(0, 1_000), (1_000, 1_000), (2_000, 1)]
