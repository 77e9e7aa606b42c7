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
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa

__all__ = [
    "LOCATION_FIELDS",
    "PROFILE_FIELDS",
    "json_value",
    "klaviyo_profile",
    "klaviyo_profiles",
    "null_properties",
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
        value = json_value(raw, field=name)
        if value is None:
            continue
        if name in _PROFILE:
            attributes[name] = _as_string(value)
        elif name in _LOCATION:
            location[name] = value if name in _NUMERIC_LOCATION else _as_string(value)
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
