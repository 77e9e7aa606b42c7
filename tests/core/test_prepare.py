"""Preparing a group's records for a destination: normalized fields, duplicates, drops.

The normalization of emails and phones on its own is tested in ``test_normalize.py``.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from kinds import KINDS

from herald.core.campaigns.model import AttributeMapping
from herald.core.prepare import prepare_records

API, SFTP, CSV = KINDS["klaviyo_api"], KINDS["klaviyo_sftp"], KINDS["csv_file"]
EMAIL = AttributeMapping("email", "email")
PHONE = AttributeMapping("phone", "phone_number")


# --- records --------------------------------------------------------------------------------


def _rows(**columns: list) -> pa.Table:
    return pa.table(columns)


def test_records_normalize_and_drop_with_reasons() -> None:
    rows = _rows(
        amperity_id=["a", "b", "c", "d", "e"],
        email=[" Ann@Example.com", None, "not-an-email", "dee@example.com", "eve@example.com"],
        phone=["(206) 555-0100", "2065550101", "2065550102", "garbage", None],
        given_name=["Ann", "Bob", "Cy", "Dee", None],
    )
    mapping = [EMAIL, PHONE, AttributeMapping("given_name", "first_name")]
    p = prepare_records(rows, mapping, kind=API)
    assert p.fields == ("email", "phone_number", "first_name")
    assert p.records.column_names == ["email", "phone_number", "first_name", "amperity_id"]
    assert p.records.to_pylist() == [
        {
            "email": "ann@example.com",
            "phone_number": "+12065550100",
            "first_name": "Ann",
            "amperity_id": "a",
        },
        {"email": "dee@example.com", "phone_number": None, "first_name": "Dee", "amperity_id": "d"},
        {"email": "eve@example.com", "phone_number": None, "first_name": None, "amperity_id": "e"},
    ]
    # b and c are dropped for their email; their phones are not counted (not sent anyway).
    assert p.drops == {"invalid_email": 1, "invalid_phone": 1, "missing_email": 1}
    assert sorted(p.dropped.to_pylist(), key=lambda r: r["amperity_id"]) == [
        {"amperity_id": "b", "reason": "missing_email", "skipped": True},
        {"amperity_id": "c", "reason": "invalid_email", "skipped": True},
        {"amperity_id": "d", "reason": "invalid_phone", "skipped": False},
    ]


def test_duplicate_emails_keep_the_smallest_key() -> None:
    rows = _rows(
        amperity_id=["m", "k", "z", "a", "q"],
        email=["Shared@x.com", "shared@x.com ", "SHARED@X.COM", "solo@x.com", "bad@"],
    )
    p = prepare_records(rows, [EMAIL], kind=API)
    assert p.records.to_pylist() == [
        {"email": "shared@x.com", "amperity_id": "k"},
        {"email": "solo@x.com", "amperity_id": "a"},
    ]
    assert p.drops == {"duplicate_email": 2, "invalid_email": 1}
    dupes = [r["amperity_id"] for r in p.dropped.to_pylist() if r["reason"] == "duplicate_email"]
    assert sorted(dupes) == ["m", "z"]


def test_duplicates_ignore_rows_already_dropped_and_order_keys_naturally() -> None:
    # Integer keys compare as numbers: 9 < 10. A row with an invalid email never wins.
    rows = _rows(amperity_id=[10, 9, 1], email=["a@x.com", "A@x.com", "a@x..com"])
    p = prepare_records(rows, [EMAIL], kind=API)
    assert p.records.column("amperity_id").to_pylist() == [9]
    assert p.drops == {"duplicate_email": 1, "invalid_email": 1}


def test_duplicates_across_fast_and_slow_paths() -> None:
    rows = _rows(amperity_id=["2", "1"], email=["ann@bücher.de", "ann@xn--bcher-kva.de"])
    p = prepare_records(rows, [EMAIL], kind=API)
    assert p.records.to_pylist() == [{"email": "ann@bücher.de", "amperity_id": "1"}]


def test_taken_customers_are_dropped_before_duplicates_are_looked_for() -> None:
    """Customers whose email an earlier group keeps are dropped with their own reason; within
    the group, the smallest key among the others keeps a shared email."""
    rows = _rows(
        amperity_id=["a", "b", "c", "d", "e"],
        email=["x@y.com", "X@y.com", "z@y.com", "bad@", None],
    )
    p = prepare_records(rows, [EMAIL], kind=API, taken=pa.array(["a", "c", "d", "e", "nobody"]))
    assert p.records.to_pylist() == [{"email": "x@y.com", "amperity_id": "b"}]
    assert p.drops == {"duplicate_email_in_campaign": 2, "invalid_email": 1, "missing_email": 1}
    lost = [r for r in p.dropped.to_pylist() if r["reason"] == "duplicate_email_in_campaign"]
    assert lost == [
        {"amperity_id": "a", "reason": "duplicate_email_in_campaign", "skipped": True},
        {"amperity_id": "c", "reason": "duplicate_email_in_campaign", "skipped": True},
    ]


def test_taken_customers_leave_a_csv_too_and_need_an_email() -> None:
    """A CSV keeps every customer of its group, but not one whose address an earlier group
    keeps; a taken customer without a valid email stays (it was never claimed)."""
    rows = _rows(amperity_id=[3, 1, 2], email=["a@x.com", "nope", "b@x.com"])
    p = prepare_records(
        rows, KINDS["csv_file"].default_attributes, kind=CSV, taken=pa.array(["3", "1"])
    )
    assert p.records.to_pylist() == [
        {"amperity_id": 1, "email": None},
        {"amperity_id": 2, "email": "b@x.com"},
    ]
    assert p.drops == {"duplicate_email_in_campaign": 1, "invalid_email": 1}
    # No taken keys: nothing changes (and no reason is reported).
    assert prepare_records(rows, [EMAIL], kind=CSV, taken=pa.array([], pa.int64())).drops == {
        "invalid_email": 1
    }


def test_key_as_source() -> None:
    rows = _rows(amperity_id=["a1", "b2"], email=["a@x.com", "b@x.com"])
    p = prepare_records(rows, [EMAIL, AttributeMapping("amperity_id", "external_id")], kind=API)
    assert p.records.to_pylist() == [
        {"email": "a@x.com", "external_id": "a1", "amperity_id": "a1"},
        {"email": "b@x.com", "external_id": "b2", "amperity_id": "b2"},
    ]
    # The CSV default maps the key to itself: one column, not two.
    p = prepare_records(rows, KINDS["csv_file"].default_attributes, kind=CSV)
    assert p.records.column_names == ["amperity_id", "email"]


def test_key_column_can_be_named_otherwise() -> None:
    rows = _rows(customer=["c2", "c1"], email=["x@y.com", "X@y.com"])
    p = prepare_records(rows, [EMAIL], key="customer", kind=API)
    assert p.records.to_pylist() == [{"email": "x@y.com", "customer": "c1"}]
    assert p.dropped.column_names == ["customer", "reason", "skipped"]


def test_sftp_fields() -> None:
    rows = _rows(amperity_id=["a", "b"], email=["A@x.com", "nope"], phone=["206.555.0100", "1"])
    mapping = [AttributeMapping("email", "Email"), AttributeMapping("phone", "PhoneNumber")]
    p = prepare_records(rows, mapping, kind=SFTP)
    assert p.records.to_pylist() == [
        {"Email": "a@x.com", "PhoneNumber": "+12065550100", "amperity_id": "a"}
    ]
    # b's email and phone are both invalid: no identifier is left, so b is not sent
    assert p.drops == {"missing_identifier": 1}
    assert p.dropped.to_pylist() == [
        {"amperity_id": "b", "reason": "missing_identifier", "skipped": True}
    ]


def test_sftp_rows_need_one_identifier_of_any_kind() -> None:
    rows = _rows(
        amperity_id=["a", "b", "c", "d", "e"],
        email=[None, "b@x.com", "bad", None, "  "],
        phone=["2065550100", None, None, None, None],
        external=[None, None, "EXT-C", "  ", None],
    )
    mapping = [
        AttributeMapping("email", "Email"),
        AttributeMapping("phone", "PhoneNumber"),
        AttributeMapping("external", "ExternalID"),
    ]
    p = prepare_records(rows, mapping, kind=SFTP)
    # a by phone, b by email, c by external id (its email blanked); d and e have only blanks
    assert p.records.column("amperity_id").to_pylist() == ["a", "b", "c"]
    assert p.records.column("Email").to_pylist() == [None, "b@x.com", None]
    assert p.drops == {"invalid_email": 1, "missing_identifier": 2}
    skipped = [r["amperity_id"] for r in p.dropped.to_pylist() if r["skipped"]]
    assert skipped == ["d", "e"]


def test_a_kind_without_identifier_fields_keeps_rows_without_them() -> None:
    rows = _rows(amperity_id=["a"], email=[None])
    p = prepare_records(rows, [EMAIL], kind=CSV)
    assert p.records.num_rows == 1
    assert p.drops == {}


def test_csv_blanks_invalid_values_and_keeps_every_customer() -> None:
    rows = _rows(
        amperity_id=["a", "b", "c", "d"],
        email=["A@x.com", "a@x.com", "nope", None],
        phone=[None, "zzz", None, None],
    )
    p = prepare_records(rows, [*KINDS["csv_file"].default_attributes, PHONE], kind=CSV)
    assert p.records.column("email").to_pylist() == ["a@x.com", "a@x.com", None, None]
    assert p.records.num_rows == 4  # no required email: nobody is dropped, no dedupe
    assert p.drops == {"invalid_email": 1, "invalid_phone": 1}
    assert not any(p.dropped.column("skipped").to_pylist())
    # Dedupe can be asked for explicitly.
    p = prepare_records(rows, KINDS["csv_file"].default_attributes, kind=CSV, dedupe=True)
    assert p.records.column("amperity_id").to_pylist() == ["a", "c", "d"]


def test_other_fields_pass_through_with_their_types() -> None:
    rows = pa.table(
        {
            "amperity_id": ["a"],
            "email": ["a@x.com"],
            "Customer_360.lifetime_revenue": pa.array([12.5], pa.float64()),
            "Merged_Customers.birthdate": pa.array([None], pa.date32()),
        }
    )
    mapping = [
        EMAIL,
        AttributeMapping("Customer_360.lifetime_revenue", "lifetime_revenue"),
        AttributeMapping("Merged_Customers.birthdate", "birthdate"),
    ]
    p = prepare_records(rows, mapping, kind=API)
    assert p.records.schema.field("lifetime_revenue").type == pa.float64()
    assert p.records.schema.field("birthdate").type == pa.date32()


def test_chunked_and_empty_inputs() -> None:
    part = _rows(amperity_id=["b", "a"], email=["x@y.com", "X@y.com"])
    p = prepare_records(pa.concat_tables([part, part.slice(0, 0), part]), [EMAIL], kind=API)
    assert p.records.to_pylist() == [{"email": "x@y.com", "amperity_id": "a"}]
    assert p.drops == {"duplicate_email": 3}
    empty = prepare_records(part.slice(0, 0), [EMAIL], kind=API)
    assert empty.records.num_rows == 0
    assert empty.drops == {}
    assert empty.dropped.num_rows == 0


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ([AttributeMapping("nope", "email")], "'nope'"),
        ([EMAIL, AttributeMapping("email", "email")], "mapped twice"),
        ([AttributeMapping("email", "first_name")], "requires field 'email'"),
        ([EMAIL, AttributeMapping("email", "amperity_id")], "hide the customer key"),
    ],
)
def test_mapping_errors(mapping: list[AttributeMapping], message: str) -> None:
    rows = _rows(amperity_id=["a"], email=["secret.person@example.com"])
    with pytest.raises(ValueError, match=message) as caught:
        prepare_records(rows, mapping, kind=API)
    assert "secret.person" not in str(caught.value)


def test_no_email_or_phone_in_what_is_reported() -> None:
    rows = _rows(amperity_id=["a", "b"], email=["bad@", "bad@"], phone=["2065550100", "x"])
    p = prepare_records(rows, [EMAIL, PHONE], kind=API)
    assert p.dropped.column_names == ["amperity_id", "reason", "skipped"]
    assert set(p.dropped.column("reason").to_pylist()) == {"invalid_email"}
