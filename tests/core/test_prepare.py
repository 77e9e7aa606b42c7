"""Preparing a group's records for a destination: emails, phones, duplicates, drops."""

from __future__ import annotations

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from kinds import KINDS

from herald.core.campaigns.model import AttributeMapping
from herald.core.prepare import (
    _FAST_PHONE_INTERNATIONAL,
    _FAST_PHONE_NATIONAL,
    _US_PATTERNS,
    FAST_EMAIL_PATTERN,
    _phone_slow,
    fast_email_mask,
    fast_phone_mask,
    normalize_emails,
    normalize_phones,
    prepare_records,
)

API, SFTP, CSV = KINDS["klaviyo_api"], KINDS["klaviyo_sftp"], KINDS["csv_file"]
EMAIL = AttributeMapping("email", "email")
PHONE = AttributeMapping("phone", "phone_number")


def _emails(values: list[str | None]) -> tuple[list[str | None], list[str | None]]:
    emails, reasons = normalize_emails(pa.array(values, pa.string()))
    return emails.to_pylist(), reasons.to_pylist()


def _phones(values: list[str | None], region: str = "US") -> tuple[list, list]:
    phones, reasons = normalize_phones(pa.array(values, pa.string()), region)
    return phones.to_pylist(), reasons.to_pylist()


# --- emails ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ann@example.com", "ann@example.com"),
        ("  ann@example.com\t", "ann@example.com"),  # trimmed
        ("Ann.Lee@Example.COM", "ann.lee@example.com"),  # lower-cased, local part too
        ("ann+tag@mail.example.co.uk", "ann+tag@mail.example.co.uk"),
        ("o'brien@example.com", "o'brien@example.com"),
        ("josé@example.com", "josé@example.com"),  # unicode local part (SMTPUTF8)
        ("ann@bücher.de", "ann@bücher.de"),  # IDN domain
        ("Ann@BÜCHER.de", "ann@bücher.de"),
        ("ann@xn--bcher-kva.de", "ann@bücher.de"),  # Punycode: the same address as above
        # email-validator checks the 64-character local part only in strict mode: the fast path
        # leaves such an address to it.
        ("a" * 65 + "@example.com", "a" * 65 + "@example.com"),
    ],
)
def test_valid_emails_are_normalized(raw: str, expected: str) -> None:
    assert _emails([raw]) == ([expected], [None])


@pytest.mark.parametrize(
    "raw",
    [
        "ann.example.com",  # no @
        "ann@@example.com",
        "ann@example.com.",  # trailing dot
        "ann @example.com",  # a space inside
        "ann..lee@example.com",
        ".ann@example.com",
        "ann.@example.com",
        "ann@example",  # no dot in the domain
        "ann@-example.com",
        "ann@example-.com",
        "ann@ab--cd.com",  # hyphens in positions 3-4 without Punycode
        "ann@example.test",  # special-use domains are not deliverable
        "ann@printer.local",
        "Ann Lee <ann@example.com>",  # a display name
        "ann@" + "a" * 64 + ".com",  # label too long
        "ann@example.12",  # a numeric TLD
    ],
)
def test_invalid_emails(raw: str) -> None:
    assert _emails([raw]) == ([None], ["invalid_email"])


def test_missing_emails() -> None:
    assert _emails([None, "", "   "]) == ([None] * 3, ["missing_email"] * 3)


def test_email_column_of_another_type_and_chunked() -> None:
    chunked = pa.chunked_array([["A@B.co"], [None, "c@d.co"]])
    emails, reasons = normalize_emails(chunked)
    assert emails.to_pylist() == ["a@b.co", None, "c@d.co"]
    assert reasons.to_pylist() == [None, "missing_email", None]
    assert normalize_emails(pa.nulls(2))[1].to_pylist() == ["missing_email"] * 2


def test_fast_path_takes_plain_addresses_only() -> None:
    values = [
        "ann@example.com",
        "josé@example.com",
        "ann@bücher.de",
        "a..b@example.com",
        "ann@xn--bcher-kva.de",
        "ann@example.test",
        "a@b.c",
    ]
    mask = fast_email_mask(pa.array(values)).to_pylist()
    assert mask == [True, False, False, False, False, False, False]


def _validated(value: str) -> str | None:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


_ADDRESSY = st.text(
    alphabet=st.sampled_from("abcz09.-_+'@!#$%&*/=?^`{|}~ xnAZéü\u212a"), min_size=1, max_size=40
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.from_regex(FAST_EMAIL_PATTERN, fullmatch=True), _ADDRESSY, st.text()))
@example("ann@example.com")
@example("a-b@x--y.com")
@example("a@b.arpa")
@example("a@home.arpa")
@example("a@x.onion")
def test_fast_path_is_sound(value: str) -> None:
    """Whatever the fast path accepts, email-validator accepts and leaves unchanged."""
    if fast_email_mask(pa.array([value])).to_pylist() == [True]:
        assert _validated(value) == value


@settings(max_examples=300, deadline=None)
@given(st.one_of(_ADDRESSY, st.text()))
def test_normalize_matches_the_library(value: str) -> None:
    """Fast path or not, the result is email-validator's on the trimmed, lower-cased value."""
    cleaned = pc.utf8_lower(pc.utf8_trim_whitespace(pa.array([value]))).to_pylist()[0]
    emails, _ = normalize_emails(pa.array([value]))
    assert emails.to_pylist() == [_validated(cleaned) if cleaned else None]


def test_distinct_slow_values_are_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import herald.core.prepare as prepare

    calls: list[str] = []

    def counting(value: str) -> str | None:
        calls.append(value)
        return _validated(value)

    monkeypatch.setattr(prepare, "_email_slow", counting)
    emails, _ = normalize_emails(pa.array(["ann@bücher.de"] * 5 + ["bad"] * 3 + ["a@b.co"] * 4))
    assert sorted(calls) == ["ann@bücher.de", "bad"]
    assert emails.to_pylist()[:1] == ["ann@bücher.de"]


# --- phones ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+12065550100", "+12065550100"),  # E.164
        ("(206) 555-0100", "+12065550100"),  # national formats
        ("206-555-0100", "+12065550100"),
        ("206.555.0100", "+12065550100"),
        ("2065550100", "+12065550100"),
        ("1-206-555-0100", "+12065550100"),  # with the national prefix
        ("+1 (206) 555-0100", "+12065550100"),
        (" +1 206 555 0100 ", "+12065550100"),
        ("+1 604 555 0100", "+16045550100"),  # Canada: slow path, still valid
        ("+44 20 7946 0958", "+442079460958"),  # international keeps its country
        ("+49 30 12345678", "+493012345678"),
        ("206-555-0100 ext. 12", "+12065550100"),  # E.164 has no extension
    ],
)
def test_valid_phones(raw: str, expected: str) -> None:
    assert _phones([raw]) == ([expected], [None])


@pytest.mark.parametrize(
    "raw",
    [
        "555-0100",  # no area code
        "12345",
        "n/a",
        "phone",
        "+1 999 555 0100",  # possible (10 digits) but not a valid US number
        "+1 206 555 01000",  # too long
        "+999 1234567",  # no such country code
        "(206) 555-010",
    ],
)
def test_invalid_phones(raw: str) -> None:
    assert _phones([raw]) == ([None], ["invalid_phone"])


def test_strictness_is_valid_not_possible() -> None:
    number = phonenumbers.parse("+1 999 555 0100")
    assert phonenumbers.is_possible_number(number)
    assert _phones(["+1 999 555 0100"])[0] == [None]


def test_missing_phones_and_other_types() -> None:
    assert _phones([None, "", "  "]) == ([None] * 3, ["missing_phone"] * 3)
    phones, _ = normalize_phones(pa.array([2065550100, None], pa.int64()))
    assert phones.to_pylist() == ["+12065550100", None]


def test_default_region_reads_national_formats() -> None:
    assert _phones(["020 7946 0958", "+1 206 555 0100"], "GB")[0] == [
        "+442079460958",
        "+12065550100",
    ]
    # With another default region a bare 10-digit number is not read as North American.
    assert fast_phone_mask(pa.array(["2065550100", "+12065550100"]), "GB").to_pylist() == [
        False,
        True,
    ]


def test_fast_path_is_available_and_used() -> None:
    assert _US_PATTERNS is not None
    mask = fast_phone_mask(pa.array(["(206) 555-0100", "+16045550100", "+442079460958", None]))
    assert mask.to_pylist() == [True, False, False, False]


_PHONE_SHAPES = st.one_of(
    st.from_regex(_FAST_PHONE_NATIONAL, fullmatch=True),
    st.from_regex(_FAST_PHONE_INTERNATIONAL, fullmatch=True),
    st.from_regex(r"\+?1?[2-9][0-9]{9}", fullmatch=True),
    st.text(alphabet="0123456789+()-. x", max_size=20),
)


@settings(max_examples=800, deadline=None)
@given(_PHONE_SHAPES, st.sampled_from(["US", "GB", "CA"]))
@example("(800) 555-0100", "US")
@example("1 900 555 0100", "US")
def test_phone_fast_path_is_sound(value: str, region: str) -> None:
    """Whatever the fast path settles, phonenumbers settles the same way."""
    phones, _ = normalize_phones(pa.array([value]), region)
    if fast_phone_mask(pa.array([value]), region).to_pylist() == [True]:
        assert phones.to_pylist() == [_phone_slow(value.strip(), region)]
        assert phones.to_pylist()[0] is not None


def test_phone_fast_path_every_area_code() -> None:
    """Every NANP area code, in three formats: the fast path agrees with phonenumbers."""
    values = [
        fmt.format(area=area, exchange=exchange)
        for area in range(200, 1000)
        for exchange in (234, 555, 987)
        for fmt in (
            "+1{area}{exchange}0142",
            "({area}) {exchange}-0142",
            "1.{area}.{exchange}.0142",
        )
    ]
    phones, _ = normalize_phones(pa.array(values))
    mask = fast_phone_mask(pa.array(values)).to_pylist()
    for value, fast, phone in zip(values, mask, phones.to_pylist(), strict=True):
        assert phone == _phone_slow(value, "US"), value
        if fast:
            assert phone is not None
    # And it is complete for these formats: every valid US number takes it (others, such as
    # Canadian ones, take the slow path).
    us = [
        phonenumbers.region_code_for_number(phonenumbers.parse(p)) == "US"
        for p in phones.to_pylist()
        if p is not None
    ]
    assert sum(mask) == sum(us)


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
    assert p.drops == {"invalid_email": 1}


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
