"""The one redactor: generated emails, phones and keys never survive; dates, times, timestamps,
run ids, UUIDs and counts survive unchanged; log records and stored errors go through it."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import herald.redact as redact_module
from herald.redact import install_log_redaction, redact, redact_data, register_secret

SEPARATORS = st.sampled_from([" ", ", ", "; ", " | ", ": ", " at ", "\n", " (", ") ", " = "])

# --- what must survive ------------------------------------------------------------------------

dates = st.dates(dt.date(1900, 1, 1), dt.date(2999, 12, 31)).map(dt.date.isoformat)
times = st.times().map(
    lambda t: t.isoformat(timespec="minutes") if t.second == 0 else t.isoformat()
)
timestamps = st.builds(
    lambda d, sep, spec, zone: d.replace(tzinfo=zone).isoformat(sep=sep, timespec=spec),
    st.datetimes(dt.datetime(1970, 1, 1), dt.datetime(2999, 12, 31)),
    st.sampled_from(["T", " "]),
    st.sampled_from(["minutes", "seconds", "milliseconds", "microseconds"]),
    st.sampled_from(
        [
            None,
            dt.UTC,
            dt.timezone(dt.timedelta(hours=5, minutes=30)),
            dt.timezone(-dt.timedelta(hours=8)),
        ]
    ),
)
run_ids = st.builds(
    lambda d, suffix: f"run_{d:%Y%m%dT%H%M%S}_{suffix}",
    st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2999, 12, 31)),
    st.text("0123456789abcdef", min_size=6, max_size=6),
)
uuids = st.uuids().map(str) | st.uuids().map(lambda u: u.hex)
counts = st.integers(0, 10**13).map(lambda n: f"{n:,}")
small = st.integers(0, 999).map(str)
decimals = st.builds(
    lambda x, places: f"{x:.{places}f}", st.floats(0, 1e7, allow_nan=False), st.integers(1, 6)
)
words = st.sampled_from(["run", "list", "rows", "rejected", "took", "s", "added", "Klaviyo"])
SAFE = dates | times | timestamps | run_ids | uuids | counts | small | decimals | words


@st.composite
def sentences(draw: st.DrawFn, tokens: st.SearchStrategy[str]) -> str:
    parts = draw(st.lists(tokens, min_size=1, max_size=8))
    out = parts[0]
    for part in parts[1:]:
        out += draw(SEPARATORS) + part
    return out


@given(sentences(SAFE))
@settings(max_examples=400)
def test_dates_times_ids_and_counts_survive(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-03 00:51",
        "run started 2026-12-03 00:51:07, 1,234,567 rows in 12.5 s",
        "list synced: +1,234 ~0 -12, 0 rejected",
        "as of 2026-12-03T00:51:07.123456+00:00 (run_20261203T005107_a1b2c3)",
        "job 123e4567-e89b-12d3-a456-426614174000 retried in 2.0 s",
        "http://127.0.0.1:8700/api/lists",
        "+12 added, -3 removed",
        "retry at 2026-12-03 00:51, job 123e4567-e89b-12d3-a456-426614174000",
    ],
)
def test_everyday_lines_are_unchanged(text: str) -> None:
    assert redact(text) == text


# --- what must go ------------------------------------------------------------------------------


def _valid_email(text: str) -> bool:
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


letters = st.characters(categories=["Ll", "Lu", "Lo"], exclude_characters="ǅǈǋǲ")
international_emails = st.builds(
    lambda local, label, tld: f"{local}@{label}.{tld}",
    st.text(letters | st.sampled_from("0123456789._+-"), min_size=1, max_size=20),
    st.text(letters | st.sampled_from("0123456789"), min_size=1, max_size=20),
    st.sampled_from(["com", "de", "рф", "中国", "org", "co.uk", "δοκιμή", "भारत"]),
).filter(_valid_email)


@given(st.emails() | international_emails, SEPARATORS, SAFE)
@settings(max_examples=400, suppress_health_check=[HealthCheck.filter_too_much])
def test_emails_never_survive(email: str, sep: str, safe: str) -> None:
    out = redact(f"{safe}{sep}{email}{sep}{safe}")
    assert email not in out
    assert "@" not in out
    assert out.startswith(f"{safe}{sep}")
    assert out.endswith(f"{sep}{safe}")
    assert "[email]" in out


REGIONS = ["US", "CA", "GB", "DE", "FR", "IN", "JP", "BR", "AU", "MX", "CN", "RU", "ES", "IT"]
TYPES = [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
F = phonenumbers.PhoneNumberFormat


@st.composite
def phones(draw: st.DrawFn) -> tuple[str, str]:
    """A valid number of some region, written in one of the formats Herald normalises (any
    ``+``/``011`` international form; national forms for North America, Herald's default
    region): the written form and its national significant number."""
    region = draw(st.sampled_from(REGIONS))
    example = phonenumbers.example_number_for_type(region, draw(st.sampled_from(TYPES)))
    assume(example is not None)
    nsn = phonenumbers.national_significant_number(example)
    tail = draw(st.text("0123456789", min_size=4, max_size=4))
    number = phonenumbers.parse(f"+{example.country_code}{nsn[:-4]}{tail}")
    assume(phonenumbers.is_valid_number(number))
    nsn = phonenumbers.national_significant_number(number)
    forms = [
        phonenumbers.format_number(number, F.E164),
        phonenumbers.format_number(number, F.INTERNATIONAL),
        phonenumbers.format_number(number, F.RFC3966),
        phonenumbers.format_out_of_country_calling_number(number, "US"),
    ]
    if example.country_code == 1:
        area, exchange, line = nsn[:3], nsn[3:6], nsn[6:]
        forms += [
            phonenumbers.format_number(number, F.NATIONAL),
            f"{area}-{exchange}-{line}",
            f"{area}.{exchange}.{line}",
            f"{area} {exchange} {line}",
            f"({area}){exchange}-{line}",
            f"1-{area}-{exchange}-{line}",
            f"1 ({area}) {exchange}-{line}",
            nsn,
            f"1{nsn}",
            f"+1 {area} {exchange} {line}",
        ]
    return draw(st.sampled_from(forms)), nsn


@given(phones(), st.sampled_from(["; ", ", ", " | ", " "]), words)
@settings(max_examples=500)
def test_phones_never_survive(phone: tuple[str, str], sep: str, word: str) -> None:
    written, nsn = phone
    out = redact(f"{word}{sep}{written}{sep}{word}")
    assert written not in out
    assert nsn[-4:] not in out, out
    assert out.replace("tel:", "") == f"{word}{sep}[phone]{sep}{word}"


@pytest.mark.parametrize(
    "phone", ["555-0100", "(206) 555-0100", "206.555.0100", "+442079461234", "+4930 5550100"]
)
def test_the_demo_phone_formats_go(phone: str) -> None:
    assert redact(f"phone {phone}.") == "phone [phone]."


keys = st.builds(
    lambda body, digit: f"pk_{body}{digit}",
    st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", min_size=16),
    st.sampled_from("0123456789"),
)


@given(keys, SAFE)
def test_klaviyo_keys_never_survive(key: str, safe: str) -> None:
    for text in (
        f"{safe} {key} {safe}",
        f"Illegal header value b'Klaviyo-API-Key {key}\\n'",
        f"Authorization: Klaviyo-API-Key {key}",
    ):
        out = redact(text)
        assert key not in out
        assert key[3:] not in out


@contextmanager
def secrets_registered() -> Iterator[None]:
    saved = redact_module._secrets
    try:
        yield
    finally:
        redact_module._secrets = saved


@given(st.text(min_size=8).filter(lambda s: s.strip() == s and "[secret]" not in s), SAFE)
def test_registered_secrets_never_survive(secret: str, safe: str) -> None:
    with secrets_registered():
        register_secret(secret)
        out = redact(f"{safe} {secret}; {secret!r}")
        assert secret not in out
        assert repr(secret)[1:-1] not in out


def test_a_wrong_key_of_any_shape_goes_after_its_scheme() -> None:
    assert redact("Klaviyo-API-Key wrong-key!") == "Klaviyo-API-Key [key]"
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer [key]"


def test_redact_data_redacts_every_string_but_not_numbers() -> None:
    data = {"why": ["ann@example.com", 2065550100], "n": 1, "who": {"+12065550100": "x"}}
    assert redact_data(data) == {"why": ["[email]", 2065550100], "n": 1, "who": {"[phone]": "x"}}


# --- log records -------------------------------------------------------------------------------


def test_every_log_record_is_redacted_whatever_the_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = "pk_live_0123456789abcdefghijkl"
    install_log_redaction()
    install_log_redaction()  # idempotent
    log = logging.getLogger("herald.test.redact")
    with caplog.at_level(logging.DEBUG, logger="herald.test.redact"):
        log.info("member %s with %s", "ann@example.com", "+1 206 555 0100")
        try:
            raise RuntimeError(f"Illegal header value b'Klaviyo-API-Key {key}'")
        except RuntimeError:
            log.exception("request failed at %s", "2026-12-03 00:51")
    text = caplog.text
    assert "ann@example.com" not in text
    assert "555 0100" not in text
    assert key not in text
    assert "[email]" in text
    assert "2026-12-03 00:51" in text
    assert "Traceback" in text
