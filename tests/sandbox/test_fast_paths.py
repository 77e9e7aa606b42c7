"""The bulk import's fast paths give what the generic paths they stand in for give.

Parsing (orjson, ``decode.loads``) against ``json.loads``; the batch check of a bulk body
(``validation.batch_valid``) against the compiled validator; the job worker's bulk creation of
new profiles (``SandboxState._import_new``) against importing the same payload one profile at a
time. Each with examples built to hit the edges and with hypothesis over valid and invalid input.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import fastjsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from herald.sandbox import ManualClock, SandboxState
from herald.sandbox.batch import compile_batch
from herald.sandbox.bulk import all_within, new_rows
from herald.sandbox.decode import BodyError, loads
from herald.sandbox.errors import ApiError
from herald.sandbox.models import IdMaker
from herald.sandbox.spec import operations
from herald.sandbox.state import encoded_size
from herald.sandbox.validation import (
    _schema_error,
    batch_plan,
    batch_valid,
    body_validator,
    validate_body,
)

BULK = "bulk_import_profiles"


# --- parsing ------------------------------------------------------------------------------


def _parsed(parse: Any, raw: bytes) -> str:
    """What a parser makes of ``raw``: the repr (types, key order, -0.0 and NaN included)."""
    try:
        return repr(parse(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        return f"error {type(exc).__name__}"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"n": 123456789012345678901234567890}',
        b'{"n": -9223372036854775809, "m": 18446744073709551616}',
        b'{"n": 18446744073709551615, "m": -9223372036854775808}',
        b'{"external_id": "0000000000000000000000000"}',
        b'{"a": NaN, "b": Infinity, "c": -Infinity}',
        b'{"x": 1e400}',
        b'"\\ud83d\\ude00"',
        b'"\\\\ud800"',
        b"\xef\xbb\xbf{}",
        '{"a": "é"}'.encode("utf-16"),
        b'{"a": "\xff"}',
        b'{"a": 1, "a": 2, "b": 0}',
        b"[1, 2",
        b"",
        b"-0",
        b"[-0.0, 1E5, 0.1, 5e-324, 1.7976931348623157e308]",
        b'  {"a": [true, false, null]}\n',
    ],
)
def test_loads_agrees_with_json_on_edge_cases(raw: bytes) -> None:
    assert _parsed(loads, raw) == _parsed(json.loads, raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'"\\ud800"',
        b'{"a": ["x\\udfff"]}',
        b'{"n": 12345678901234567890, "s": "\\ud800"}',
        b'"\\ud800 \\udc00"',  # a pair's escapes split in two: two lone surrogates
        b'"\xed\xa0\x80"',  # the UTF-8 bytes of U+D800, which json.loads lets through
        '"\ud800"'.encode("utf-16-le", "surrogatepass"),
    ],
)
def test_loads_refuses_lone_surrogates_json_takes(raw: bytes) -> None:
    json.loads(raw)  # accepted there, but no UTF-8 response could ever echo it
    with pytest.raises(BodyError, match="lone UTF-16 surrogate"):
        loads(raw)


def test_loads_refuses_nesting_too_deep_for_json() -> None:
    raw = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(RecursionError):
        json.loads(raw)
    with pytest.raises(BodyError, match="nested too deeply"):
        loads(raw)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON, st.booleans(), st.binary(max_size=3), st.integers(0, 40))
def test_loads_agrees_with_json(value: Any, ascii_only: bool, noise: bytes, at: int) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert _parsed(loads, raw) == _expected(raw)
    damaged = raw[:at] + noise + raw[at:]  # may split a surrogate pair's escapes in two
    assert _parsed(loads, damaged) == _expected(damaged)


def _expected(raw: bytes) -> str:
    """What ``loads`` makes of ``raw``: what ``json.loads`` does, but a lone surrogate in it
    is refused (``BodyError``)."""
    parsed = _parsed(json.loads, raw)
    if parsed.startswith("error "):
        return parsed
    try:
        json.dumps(json.loads(raw), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return "error BodyError"
    return parsed


# --- validation ---------------------------------------------------------------------------


def _outcome_batched(body: Any) -> tuple[Any, ...] | None:
    try:
        validate_body(operations()[BULK], body)
    except ApiError as err:
        return (err.status, err.code, err.detail, err.source)
    return None


def _outcome_compiled(body: Any) -> tuple[Any, ...] | None:
    try:
        body_validator(BULK)(body)
    except fastjsonschema.JsonSchemaValueException as exc:
        err = _schema_error(exc)
        return (err.status, err.code, err.detail, err.source)
    return None


ANY_VALUE = st.sampled_from([None, "", "x", 0, 1.5, True, [], ["a"], {}, {"k": 1}])
STRING_OR_ANY = st.one_of(st.sampled_from(["a@x.io", "+15005550001", "Ann", None]), ANY_VALUE)
LOCATION = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "city": STRING_OR_ANY,
            "latitude": st.one_of(st.sampled_from(["1.5", 1.5, 2, None]), ANY_VALUE),
            "longitude": st.sampled_from(["1.5", -3, None, True, []]),
        },
    ),
    ANY_VALUE,
)
ATTRIBUTES = st.fixed_dictionaries(
    {},
    optional={
        "email": STRING_OR_ANY,
        "phone_number": STRING_OR_ANY,
        "external_id": STRING_OR_ANY,
        "first_name": STRING_OR_ANY,
        "_kx": STRING_OR_ANY,
        "properties": st.one_of(st.just({"tier": "gold"}), ANY_VALUE),
        "location": LOCATION,
        "unknown": ANY_VALUE,
    },
)
META: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {},
    optional={
        "patch_properties": st.fixed_dictionaries(
            {}, optional={"unset": st.sampled_from(["a", ["a", "b"], [1], None, 3])}
        ),
        "patch_identifiers": st.one_of(st.just({"append": {}}), ANY_VALUE),
    },
)
ITEM = st.one_of(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["profile", "profile", "profile", "list", 3])},
        optional={
            "attributes": st.one_of(ATTRIBUTES, ATTRIBUTES, ANY_VALUE),
            "id": STRING_OR_ANY,
            "meta": st.one_of(META, ANY_VALUE),
        },
    ),
    ANY_VALUE,
)
GOOD_ITEM = st.builds(
    lambda email, name: {"type": "profile", "attributes": {"email": email, "first_name": name}},
    st.sampled_from(["a@x.io", "b@x.io", None]),
    st.sampled_from(["Ann", None]),
)


def _bulk_body(items: list[Any], job_type: Any, lists: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"type": job_type, "attributes": {"profiles": {"data": items}}}
    if lists is not None:
        data["relationships"] = {"lists": {"data": lists}}
    return {"data": data}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(GOOD_ITEM, ITEM), max_size=6),
    st.sampled_from(["profile-bulk-import-job", "profile-bulk-import-job", "job", None]),
    st.one_of(st.none(), st.just([{"type": "list", "id": "L1"}]), st.just([{"id": 3}])),
)
def test_batched_validation_gives_the_compiled_validators_answer(
    items: list[Any], job_type: Any, lists: Any
) -> None:
    body = _bulk_body(items, job_type, lists)
    expected = _outcome_compiled(body)
    assert _outcome_batched(body) == expected
    if batch_valid(BULK, body):  # soundness: the batch check never passes an invalid body
        assert expected is None


@settings(max_examples=200, deadline=None)
@given(st.lists(GOOD_ITEM, min_size=1, max_size=5))
def test_batch_check_passes_valid_bodies(items: list[Any]) -> None:
    body = _bulk_body(items, "profile-bulk-import-job", [{"type": "list", "id": "L1"}])
    assert batch_valid(BULK, body)


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (lambda ps: ps[-1]["attributes"].update(email=7), "/9999/attributes/email"),
        (lambda ps: ps[5000].pop("type"), "/5000/type"),
        (lambda ps: ps[0].update(type="list"), "/0/type"),
        (lambda ps: ps[17]["attributes"].update(location=None), "/17/attributes/location"),
        (lambda ps: ps.__setitem__(3, "x"), "/3"),
    ],
)
def test_an_invalid_profile_among_10000_gets_the_compiled_validators_error(
    mutate: Any, pointer: str
) -> None:
    profiles = [
        {"type": "profile", "attributes": {"email": f"p{i}@x.io", "properties": {"n": i}}}
        for i in range(10_000)
    ]
    mutate(profiles)
    body = _bulk_body(profiles, "profile-bulk-import-job", None)
    outcome = _outcome_batched(body)
    assert outcome == _outcome_compiled(body)
    assert outcome is not None
    assert outcome[3] == {"pointer": "/data/attributes/profiles/data" + pointer}


def test_the_bulk_body_has_a_batch_check_and_unknown_keywords_get_none() -> None:
    assert batch_plan(BULK) is not None
    assert compile_batch({"type": "string", "minLength": 1}) is None
    assert compile_batch({"anyOf": [{"type": "number"}, {"type": "integer"}]}) is None
    assert compile_batch({"properties": {"a": {"type": "string"}}}) is None


# --- the job worker -----------------------------------------------------------------------

EMAILS = ["a@x.io", "A@X.IO", "b@x.io", "c@x.io", "bad@", "", None]
PHONES = ["+15005550001", "+15005550002", "12345", "", None]
EXTERNALS = ["e1", "e2", "e3", "", None]
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "first_name": st.sampled_from(["Ann", "Bo", None]),
        "properties": st.sampled_from([{"tier": "gold"}, {"n": 1, "pad": "x" * 300}, None]),
        "location": st.sampled_from([{"city": "Oslo"}, {"region": "CA", "zip": None}]),
        "_kx": st.just("k"),
    },
)


@st.composite
def profile_items(draw: Any, fresh: bool) -> dict[str, Any]:
    """A bulk import item; ``fresh`` ones have identifiers no other item or profile has."""
    if fresh:
        n = draw(st.integers(0, 10**9))
        attrs: dict[str, Any] = {
            "email": draw(st.sampled_from([f"new{n}@x.io", f"NEW{n}@X.IO", None])),
            "external_id": draw(st.sampled_from([f"x{n}", None, ""])),
            "phone_number": draw(st.sampled_from([f"+1{n:010d}", None])),
        }
        if not (attrs["email"] or attrs["phone_number"] or attrs["external_id"]):
            attrs["email"] = f"new{n}@x.io"
    else:
        attrs = {
            "email": draw(st.sampled_from(EMAILS)),
            "phone_number": draw(st.sampled_from(PHONES)),
            "external_id": draw(st.sampled_from(EXTERNALS)),
        }
    attrs = {k: v for k, v in attrs.items() if v is not None or draw(st.booleans())}
    attrs.update(draw(FIELDS))
    item: dict[str, Any] = {"type": "profile", "attributes": attrs}
    if not fresh and draw(st.integers(0, 9)) == 0:
        item["id"] = draw(st.sampled_from(["", "01UNKNOWN"]))
    return item


PAYLOADS = st.lists(
    st.one_of(profile_items(fresh=True), profile_items(fresh=False)), min_size=1, max_size=40
)


def _state(fast: bool) -> SandboxState:
    state = SandboxState(ManualClock(), seed=3)
    if not fast:  # the reference: every profile through _import_one
        state._import_new = lambda job, end: False  # type: ignore[method-assign]
    state.create_list("members", None)
    return state


def _run(state: SandboxState, payloads: list[list[Any]], cap: int | None, slice_: int) -> None:
    list_id = state.lists()[0].id
    for payload in payloads:
        # Each job gets its own copy, as a parsed body would be.
        profiles = json.loads(json.dumps(payload))
        state.create_job(profiles, [list_id], max_item_bytes=cap, owned=True)
        while state.work(slice_):
            pass


def _snapshot(state: SandboxState) -> dict[str, Any]:
    members = state.lists()[0].members
    return {
        "profiles": [
            (p.id, p.email, p.phone_number, p.external_id, p.attributes, p.created, p.updated)
            for p in state.profiles()
        ],
        "index": state.book._index,
        "members": list(members.items()),
        "jobs": [
            (
                j.status,
                j.completed_count,
                j.failed_count,
                j.profile_ids,
                [(e.code, e.title, e.detail, e.pointer, e.original_payload) for e in j.errors],
            )
            for j in state.jobs()
        ],
        "next_id": state.ids.ulid(state.clock()),
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(PAYLOADS, min_size=1, max_size=3),
    st.sampled_from([None, 250]),
    st.integers(1, 24),
)
def test_worker_fast_path_gives_the_per_profile_result(
    payloads: list[list[Any]], cap: int | None, slice_: int
) -> None:
    fast, reference = _state(fast=True), _state(fast=False)
    _run(fast, payloads, cap, slice_)
    _run(reference, payloads, cap, slice_)
    assert _snapshot(fast) == _snapshot(reference)


def test_worker_fast_path_is_taken_for_new_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[int] = []
    original = SandboxState._import_new

    def spy(self: SandboxState, job: Any, end: int) -> bool:
        done = original(self, job, end)
        taken.append(end - job.cursor if done else 0)
        return done

    monkeypatch.setattr(SandboxState, "_import_new", spy)
    payload = [
        {"type": "profile", "attributes": {"email": f"n{i}@x.io", "properties": {"i": i}}}
        for i in range(1000)
    ]
    fast = _state(fast=True)
    _run(fast, [payload], 100_000, 300)
    monkeypatch.undo()
    reference = _state(fast=False)
    _run(reference, [payload], 100_000, 300)
    assert sum(taken) == 1000
    assert _snapshot(fast) == _snapshot(reference)


def test_a_clash_in_a_slice_changes_nothing_and_the_slice_goes_one_by_one() -> None:
    payload = [
        {"type": "profile", "attributes": {"email": f"n{i}@x.io", "external_id": f"x{i}"}}
        for i in range(50)
    ]
    payload[40]["attributes"] = {"email": "n5@x.io", "external_id": "x3"}  # two people
    fast, reference = _state(fast=True), _state(fast=False)
    _run(fast, [payload], None, 50)
    _run(reference, [payload], None, 50)
    assert _snapshot(fast) == _snapshot(reference)
    assert fast.jobs()[0].errors[0].code == "duplicate_profile"


def test_new_rows_refuses_what_the_per_profile_path_treats_differently() -> None:
    good = {"type": "profile", "attributes": {"email": "a@x.io"}}
    assert new_rows([good]) is not None
    for bad in [
        {"type": "profile", "attributes": {"email": "a@x"}},
        {"type": "profile", "attributes": {"phone_number": "555"}},
        {"type": "profile", "attributes": {"email": ""}},
        {"type": "profile", "attributes": {"first_name": "no identifier"}},
        {"type": "profile", "attributes": {"email": "a@x.io"}, "id": "01ABC"},
        {"type": "profile", "attributes": {"email": 7}},
        {"type": "profile", "attributes": {"email": "a@x.io", "properties": [1]}},
        {"type": "profile"},
    ]:
        assert new_rows([good, bad]) is None, bad


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=60).map(lambda t: {"a": t}), max_size=200), st.integers(2, 3000))
def test_all_within_agrees_with_encoded_size(items: list[Any], cap: int) -> None:
    assert all_within(items, cap) == all(encoded_size(i) <= cap for i in items)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000])
def test_ulids_are_the_ids_ulid_would_make(n: int) -> None:
    one, many = IdMaker(11), IdMaker(11)
    now = 1_780_000_000.123
    assert many.ulids(now, n) == [one.ulid(now) for _ in range(n)]
    assert many.ulid(now) == one.ulid(now)


def test_a_refused_slice_leaves_ids_and_indexes_as_they_were() -> None:
    state = _state(fast=True)
    _run(state, [[{"type": "profile", "attributes": {"email": "taken@x.io"}}]], None, 10)
    before = (copy.deepcopy(state.book._index), len(state.profiles()))
    rng = state.ids.state()
    rows = new_rows(
        [
            {"type": "profile", "attributes": {"email": f"n{i}@x.io", "external_id": f"x{i}"}}
            for i in range(5)
        ]
        + [{"type": "profile", "attributes": {"email": "TAKEN@x.io"}}]
    )
    assert rows is not None
    assert state.book.add_new(rows) is None
    assert (state.book._index, len(state.profiles())) == before
    assert state.ids.state() == rng
