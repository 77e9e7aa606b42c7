"""Klaviyo profile attributes from prepared records (DESIGN §1.3, FACTS §4).

The destination field name decides where a value goes in a profile's JSON:API ``attributes``:

- ``email, phone_number, external_id, first_name, last_name, organization, title, image``
  are profile attributes;
- ``address1, address2, city, country, region, zip, timezone, latitude, longitude`` and
  ``ip`` go to ``location``;
- anything else goes to ``properties`` (custom properties, under the field name as written).

NULL values are left out. An attribute that is absent leaves Klaviyo's stored value as it is,
whereas ``null`` clears it in a profile upsert (spec, ``create_or_update_profile``); what a
``null`` does inside a bulk import job is not documented (FACTS §3, §4). Herald therefore never
clears a field: a value that becomes NULL in the warehouse keeps its old value in Klaviyo.
Custom properties could be cleared with ``meta.patch_properties.unset``;
:func:`null_properties` names them for a caller that wants to.

Values are made JSON-safe: dates and datetimes as ISO 8601 strings, decimals as numbers
(integers when whole), NaN and infinities as NULL, Arrow lists and structs as JSON arrays and
objects. Fields the spec types as strings (``external_id``, ``zip``, …) are sent as strings
even when the column is numeric.

:func:`profile_json` writes the same attributes as compact JSON for a whole batch at once, in
Arrow compute: a bulk import of a million profiles cannot afford a Python dict per profile. It
is byte for byte ``orjson.dumps(klaviyo_profile(record))``: string, integer and boolean
columns are written by Arrow kernels, and every other value (dates, decimals, lists, and
strings with control characters) goes through :func:`field_value` and orjson one by one.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "LOCATION_FIELDS",
    "PROFILE_FIELDS",
    "field_value",
    "json_value",
    "klaviyo_profile",
    "klaviyo_profiles",
    "null_properties",
    "profile_json",
]

PROFILE_FIELDS: tuple[str, ...] = (
    "email",
    "phone_number",
    "external_id",
    "first_name",
    "last_name",
    "organization",
    "title",
    "image",
)
LOCATION_FIELDS: tuple[str, ...] = (
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
)
# Location fields the spec allows as a string or a number; every other named field is a string.
_NUMERIC_LOCATION = frozenset({"latitude", "longitude"})
_PROFILE = frozenset(PROFILE_FIELDS)
_LOCATION = frozenset(LOCATION_FIELDS)


def json_value(value: Any, *, field: str = "") -> Any:
    """``value`` as something ``json.dumps`` writes faithfully; None for NULL.

    Args:
        value: a Python value as Arrow's ``to_pylist`` returns it.
        field: the field name, only for the error message.

    Raises:
        TypeError: a value with no JSON form (bytes).

    >>> json_value(Decimal("12.50")), json_value(Decimal("3")), json_value(float("nan"))
    (12.5, 3, None)
    >>> json_value(dt.date(2026, 6, 30)), json_value(dt.datetime(2026, 6, 30, 8, 5))
    ('2026-06-30', '2026-06-30T08:05:00')
    >>> json_value([{"sku": "A1", "qty": Decimal("2")}])
    [{'sku': 'A1', 'qty': 2}]
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): json_value(v, field=field) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # Arrow gives a map column as a list of (key, value) pairs; a list of pairs stays a list.
        return [json_value(v, field=field) for v in value]
    msg = f"field '{field}' has a {type(value).__name__} value, which has no JSON form"
    raise TypeError(msg)


def _as_string(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def field_value(name: str, raw: Any) -> Any:
    """The value destination field ``name`` takes in a profile; None when it is left out.

    >>> field_value("zip", 98101), field_value("latitude", Decimal("47.5")), field_value("x", True)
    ('98101', 47.5, True)
    """
    value = json_value(raw, field=name)
    if value is None:
        return None
    if name in _PROFILE:
        return _as_string(value)
    if name in _LOCATION:
        return value if name in _NUMERIC_LOCATION else _as_string(value)
    return value


def klaviyo_profile(record: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON:API ``attributes`` of one Klaviyo profile, from destination field → value.

    NULL values are omitted (an omitted attribute leaves Klaviyo's value unchanged);
    ``location`` and ``properties`` appear only when they hold something.

    Args:
        record: destination field → value (as Arrow's ``to_pylist`` gives them).

    Returns:
        The ``attributes`` object of a ``profile`` resource.

    >>> klaviyo_profile({"email": "ann@example.com", "first_name": "Ann", "city": "Seattle",
    ...                  "zip": 98101, "latitude": Decimal("47.6062"), "last_name": None,
    ...                  "lifetime_revenue": Decimal("1234.50"),
    ...                  "first_order": dt.date(2024, 5, 1)})
    {'email': 'ann@example.com', 'first_name': 'Ann',
     'location': {'city': 'Seattle', 'zip': '98101', 'latitude': 47.6062},
     'properties': {'lifetime_revenue': 1234.5, 'first_order': '2024-05-01'}}
    """
    attributes: dict[str, Any] = {}
    location: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    for name, raw in record.items():
        value = field_value(name, raw)
        if value is None:
            continue
        if name in _PROFILE:
            attributes[name] = value
        elif name in _LOCATION:
            location[name] = value
        else:
            properties[name] = value
    if location:
        attributes["location"] = location
    if properties:
        attributes["properties"] = properties
    return attributes


def null_properties(record: Mapping[str, Any]) -> list[str]:
    """The custom properties of ``record`` that are NULL (for ``meta.patch_properties.unset``).

    >>> null_properties({"email": "a@b.co", "city": None, "tier": None, "score": 3})
    ['tier']
    """
    return [
        name
        for name, raw in record.items()
        if name not in _PROFILE and name not in _LOCATION and json_value(raw, field=name) is None
    ]


def klaviyo_profiles(
    records: pa.Table, fields: Sequence[str] | None = None
) -> Iterator[dict[str, Any]]:
    """The ``attributes`` of each record, batch by batch.

    Args:
        records: one column per destination field (``Prepared.records``).
        fields: the columns to send (``Prepared.fields``); all columns by default. The
            customer key column that ``prepare_records`` adds is not a destination field.

    Yields:
        One ``attributes`` dict per row, in order.

    >>> table = pa.table({"email": ["a@b.co", "c@d.co"], "tier": ["gold", None],
    ...                   "amperity_id": ["1", "2"]})
    >>> list(klaviyo_profiles(table, ["email", "tier"]))
    [{'email': 'a@b.co', 'properties': {'tier': 'gold'}}, {'email': 'c@d.co'}]
    """
    names = list(fields) if fields is not None else records.column_names
    for batch in records.select(names).to_batches():
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        for values in zip(*columns, strict=True):
            yield klaviyo_profile(dict(zip(names, values, strict=True)))


# --- compact JSON for a whole batch -----------------------------------------------------------

# Quotes, backslashes and control characters need escaping: orjson does it (its own way).
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'


def profile_json(records: pa.RecordBatch | pa.Table, fields: Sequence[str]) -> pa.Array:
    """Each record's profile ``attributes`` as compact JSON text, in order.

    Exactly ``orjson.dumps(klaviyo_profile(record)).decode()`` for every record, computed a
    column at a time (see the module docstring).

    Args:
        records: one column per destination field (``Prepared.records``).
        fields: the columns to send (``Prepared.fields``).

    Returns:
        A string array with one JSON object per record (``{}`` when every value is NULL).

    >>> table = pa.table({"email": ["a@b.co", "c@d.co"], "zip": [98101, None],
    ...                   "tier": ["gold", None]})
    >>> profile_json(table, ["email", "zip", "tier"]).to_pylist()
    ['{"email":"a@b.co","location":{"zip":"98101"},"properties":{"tier":"gold"}}',
     '{"email":"c@d.co"}']
    """
    members: dict[str, list[pa.Array]] = {"attributes": [], "location": [], "properties": []}
    for name in fields:
        column = records.column(name)
        if isinstance(column, pa.ChunkedArray):
            column = _one_chunk(column)
        place = "attributes" if name in _PROFILE else "location" if name in _LOCATION else ""
        members[place or "properties"].append(_member(name, column))
    parts = members["attributes"]
    parts += [_nested(place, members[place]) for place in ("location", "properties")]
    parts = [p for p in parts if p is not None]
    if not parts:
        return pa.array(["{}"] * records.num_rows, pa.string())
    body = pc.utf8_slice_codeunits(_joined(parts), 1)  # every member starts with a comma
    return pc.binary_join_element_wise("{", body, "}", "")


def _one_chunk(column: pa.ChunkedArray) -> pa.Array:
    if column.num_chunks == 0:
        return pa.array([], column.type)
    return column.combine_chunks()


def _joined(parts: Sequence[pa.Array]) -> pa.Array:
    """The parts of each row one after the other."""
    return parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "")


def _nested(place: str, members: Sequence[pa.Array]) -> pa.Array | None:
    """``,"location":{…}`` around each row's members, "" for a row without any."""
    if not members:
        return None
    inner = _joined(members)
    wrapped = pc.binary_join_element_wise(
        f",{_key(place)}:{{", pc.utf8_slice_codeunits(inner, 1), "}", ""
    )
    return pc.if_else(pc.equal(pc.binary_length(inner), 0), "", wrapped)


def _key(name: str) -> str:
    return orjson.dumps(name).decode()


def _member(name: str, column: pa.Array) -> pa.Array:
    """``,"name":value`` per row, "" where the value is left out."""
    text, quote = _value_text(name, column)
    mark = '"' if quote else ""
    return pc.fill_null(pc.binary_join_element_wise(f",{_key(name)}:{mark}", text, mark, ""), "")


def _value_text(name: str, column: pa.Array) -> tuple[pa.Array, bool]:
    """Each value's JSON text, NULL where the value is left out, and whether the text goes
    between quotes (a JSON string) or is the whole JSON value."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        return _value_text(name, column.dictionary_decode())
    as_text = name in _PROFILE or (name in _LOCATION and name not in _NUMERIC_LOCATION)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _string_content(pc.cast(column, pa.string())), True
    if pa.types.is_integer(kind):
        return pc.cast(column, pa.string()), as_text
    if pa.types.is_boolean(kind):
        return pc.if_else(column, "true", "false"), as_text
    if pa.types.is_null(kind):
        return pa.nulls(len(column), pa.string()), False
    return _python_json(name, column), False


def _string_content(values: pa.Array) -> pa.Array:
    """What goes between a JSON string's quotes; the rare value that needs escaping is left
    to orjson."""
    if not _may_need_escape(values):
        return values
    special = pc.fill_null(pc.match_substring_regex(values, _NEEDS_ESCAPE), False)
    exact = [orjson.dumps(v).decode()[1:-1] for v in values.filter(special).to_pylist()]
    return pc.replace_with_mask(values, special, pa.array(exact, pa.string()))


def _may_need_escape(values: pa.Array) -> bool:
    """Whether any byte of the strings' data is a quote, a backslash or a control character:
    one quick scan instead of a regular expression per value."""
    _, offsets, data = values.buffers()
    if data is None or len(values) == 0:
        return False
    ends = np.frombuffer(offsets, dtype=np.int32)[[values.offset, values.offset + len(values)]]
    raw = np.frombuffer(data, dtype=np.uint8)[ends[0] : ends[1]]
    return bool(((raw < 0x20) | (raw == ord('"')) | (raw == ord("\\"))).any())


def _python_json(name: str, column: pa.Array) -> pa.Array:
    """Values Arrow cannot write as orjson does, one by one through :func:`field_value`."""
    texts = []
    for raw in column.to_pylist():
        value = field_value(name, raw)
        texts.append(None if value is None else orjson.dumps(value).decode())
    return pa.array(texts, pa.string())
