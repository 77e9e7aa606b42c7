"""Klaviyo profile attributes from destination fields (DESIGN §1.3)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.core.klaviyo_fields import (
    LOCATION_FIELDS,
    PROFILE_FIELDS,
    json_value,
    klaviyo_profile,
    klaviyo_profiles,
    null_properties,
)


def test_field_lists_follow_the_design() -> None:
    assert set(PROFILE_FIELDS) == {
        "email",
        "phone_number",
        "external_id",
        "first_name",
        "last_name",
        "organization",
        "title",
        "image",
    }
    assert set(LOCATION_FIELDS) == {
        "address1",
        "address2",
        "city",
        "country",
        "region",
        "zip",
        "timezone",
        "latitude",
        "longitude",
        "ip",
    }


def test_every_field_lands_in_its_place() -> None:
    record = {name: f"v-{name}" for name in PROFILE_FIELDS + LOCATION_FIELDS}
    record |= {"tier": "gold", "Email": "custom", "state": "WA"}
    attributes = klaviyo_profile(record)
    assert {k: v for k, v in attributes.items() if k not in ("location", "properties")} == {
        name: f"v-{name}" for name in PROFILE_FIELDS
    }
    assert attributes["location"] == {name: f"v-{name}" for name in LOCATION_FIELDS}
    # Anything else is a custom property, under its name as written (case matters).
    assert attributes["properties"] == {"tier": "gold", "Email": "custom", "state": "WA"}


def test_nulls_are_left_out() -> None:
    attributes = klaviyo_profile(
        {"email": "a@b.co", "first_name": None, "city": None, "tier": None, "score": float("nan")}
    )
    assert attributes == {"email": "a@b.co"}  # no empty location or properties either
    assert null_properties({"email": None, "city": None, "tier": None, "x": 1}) == ["tier"]


def test_values_are_json_safe() -> None:
    attributes = klaviyo_profile(
        {
            "email": "a@b.co",
            "external_id": 123,  # the spec types identifiers as strings
            "zip": 98101,
            "latitude": Decimal("47.6062"),
            "longitude": -122.3321,
            "revenue": Decimal("1234.50"),
            "orders": Decimal("7"),
            "first_order": dt.date(2024, 5, 1),
            "last_seen": dt.datetime(2026, 6, 30, 8, 5, tzinfo=dt.UTC),
            "opted_in": True,
            "skus": ["A1", "B2"],
            "favorite": {"brand": "X", "spend": Decimal("10.0")},
        }
    )
    assert attributes == {
        "email": "a@b.co",
        "external_id": "123",
        "location": {"zip": "98101", "latitude": 47.6062, "longitude": -122.3321},
        "properties": {
            "revenue": 1234.5,
            "orders": 7,
            "first_order": "2024-05-01",
            "last_seen": "2026-06-30T08:05:00+00:00",
            "opted_in": True,
            "skus": ["A1", "B2"],
            "favorite": {"brand": "X", "spend": 10},
        },
    }
    json.dumps(attributes, allow_nan=False)


def test_json_value_edges() -> None:
    assert json_value(float("inf")) is None
    assert json_value(Decimal("NaN")) is None
    assert json_value(dt.timedelta(minutes=2)) == 120.0
    assert json_value(dt.time(9, 30)) == "09:30:00"
    with pytest.raises(TypeError, match="field 'blob'") as caught:
        json_value(b"secret@example.com", field="blob")
    assert "secret" not in str(caught.value)


def test_profiles_from_a_table() -> None:
    table = pa.table(
        {
            "email": ["a@b.co", "c@d.co", "e@f.co"],
            "phone_number": ["+12065550100", None, None],
            "city": ["Seattle", None, "Austin"],
            "lifetime_revenue": pa.array(
                [Decimal("10.50"), None, Decimal("3")], pa.decimal128(10, 2)
            ),
            "birthdate": pa.array([dt.date(1990, 1, 2), None, None], pa.date32()),
            "amperity_id": ["1", "2", "3"],
        }
    )
    # Several record batches, and the key column left out by naming the fields.
    table = pa.Table.from_batches(table.to_batches(max_chunksize=2))
    fields = ["email", "phone_number", "city", "lifetime_revenue", "birthdate"]
    assert list(klaviyo_profiles(table, fields)) == [
        {
            "email": "a@b.co",
            "phone_number": "+12065550100",
            "location": {"city": "Seattle"},
            "properties": {"lifetime_revenue": 10.5, "birthdate": "1990-01-02"},
        },
        {"email": "c@d.co"},
        {"email": "e@f.co", "location": {"city": "Austin"}, "properties": {"lifetime_revenue": 3}},
    ]
    assert [p["properties"] for p in klaviyo_profiles(table.select(["amperity_id"]))] == [
        {"amperity_id": "1"},
        {"amperity_id": "2"},
        {"amperity_id": "3"},
    ]
    assert list(klaviyo_profiles(table.slice(0, 0), fields)) == []


def test_prepared_records_become_profiles() -> None:
    from kinds import KINDS

    from herald.core.campaigns.model import AttributeMapping
    from herald.core.prepare import prepare_records

    rows = pa.table(
        {
            "amperity_id": ["a", "b"],
            "email": ["Ann@X.com", "bad"],
            "given_name": ["Ann", "Bob"],
            "Customer_360.state": ["WA", "TX"],
        }
    )
    mapping = [
        AttributeMapping("email", "email"),
        AttributeMapping("amperity_id", "external_id"),
        AttributeMapping("given_name", "first_name"),
        AttributeMapping("Customer_360.state", "region"),
    ]
    prepared = prepare_records(rows, mapping, kind=KINDS["klaviyo_api"])
    assert list(klaviyo_profiles(prepared.records, prepared.fields)) == [
        {
            "email": "ann@x.com",
            "external_id": "a",
            "first_name": "Ann",
            "location": {"region": "WA"},
        }
    ]


# --- compact JSON for a whole batch ------------------------------------------------------------

_FIELD_NAMES = ["email", "external_id", "zip", "latitude", "city", "tier", "Score", 'we"ird\\']


def _expected_json(table: pa.Table, fields: list[str]) -> list[str]:
    import orjson

    return [
        orjson.dumps(klaviyo_profile({f: row[f] for f in fields})).decode()
        for row in table.to_pylist()
    ]


def test_profile_json_is_what_orjson_writes_for_each_type() -> None:
    from herald.core.klaviyo_fields import profile_json

    table = pa.table(
        {
            "email": pa.array(['a"b\\c@x.co', "tab\there", None, "é😀\u2028", ""]),
            "external_id": pa.array([1, -2, None, 2**62, 0], pa.int64()),
            "zip": pa.array([98101, None, 7, 0, 1], pa.uint32()),
            "latitude": pa.array([Decimal("47.6"), None, Decimal("1"), Decimal("-0.5"), None]),
            "city": pa.array([True, False, None, True, False]),
            "tier": pa.array(["gold", None, None, "x\x00y", "\x7f"]).dictionary_encode(),
            "Score": pa.array([1.5, float("nan"), float("inf"), 1e16, -0.0]),
            'we"ird\\': pa.array([[1, 2], None, [], [3], None], pa.list_(pa.int8())),
            "when": pa.array([dt.date(2024, 1, 2), None, None, None, dt.date(1, 1, 1)]),
            "flag": pa.array([None] * 5, pa.null()),
        }
    )
    fields = table.column_names
    assert profile_json(table, fields).to_pylist() == _expected_json(table, fields)
    # A slice (an offset into the buffers), several chunks, no fields, no rows.
    sliced = pa.Table.from_batches(table.slice(1, 3).to_batches(max_chunksize=1))
    assert profile_json(sliced, fields).to_pylist() == _expected_json(sliced, fields)
    assert profile_json(table, []).to_pylist() == ["{}"] * 5
    assert profile_json(table.slice(0, 0), fields).to_pylist() == []


_text = st.one_of(st.none(), st.text(max_size=12))


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            _text,
            st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
            _text,
            st.one_of(st.none(), st.booleans()),
            _text,
        ),
        max_size=12,
    ),
    names=st.permutations(_FIELD_NAMES).map(lambda names: names[:5]),
    offset=st.integers(0, 3),
)
def test_profile_json_matches_orjson_for_any_values(
    rows: list[tuple], names: list[str], offset: int
) -> None:
    from herald.core.klaviyo_fields import profile_json

    columns = list(zip(*rows, strict=True)) if rows else [[]] * 5
    types = [pa.string(), pa.int64(), pa.string(), pa.bool_(), pa.large_string()]
    table = pa.table(
        {name: pa.array(list(col), t) for name, col, t in zip(names, columns, types, strict=True)}
    ).slice(min(offset, len(rows)))
    assert profile_json(table, names).to_pylist() == _expected_json(table, names)
