"""Normalizing emails and phone numbers: fast paths checked against the libraries."""

from __future__ import annotations

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from herald.core.normalize import (
    _FAST_PHONE_INTERNATIONAL,
    _FAST_PHONE_NATIONAL,
    _US_PATTERNS,
    FAST_EMAIL_PATTERN,
    _phone_slow,
    fast_email_mask,
    fast_phone_mask,
    normalize_emails,
    normalize_phones,
)


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
    import herald.core.normalize as normalize

    calls: list[str] = []

    def counting(value: str) -> str | None:
        calls.append(value)
        return _validated(value)

    monkeypatch.setattr(normalize, "_email_slow", counting)
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
