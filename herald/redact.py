"""One redactor for every log line, CLI error message and stored error.

:func:`redact` replaces, in this order:

- the exact value of every secret registered with :func:`register_secret` (the config
  registers each API key it loads), with ``[secret]``;
- Klaviyo private keys (``pk_`` and 16 or more letters, digits or ``_`` with a digit among
  them) and the credential after ``Klaviyo-API-Key`` or ``Bearer``, with ``[key]``;
- email addresses, internationalised ones included (any characters email-validator accepts
  in a local part and a dotted domain), with ``[email]``;
- phone numbers in the shapes Herald normalises (DESIGN §1.3): ``+`` and a country code in
  any grouping (E.164 ``+12065550100``, ``+44 20 7946 0958``, ``+44 (0)20 …``, ``011 44 …``),
  North American numbers with or without ``1`` and with spaces, dashes, dots or brackets
  (``(206) 555-0100``, ``206.555.0100``, ``2065550100``; area code and exchange 2-9xx, as
  the numbering plan has them), and seven-digit local numbers
  written ``555-0100``, with ``[phone]``.

It leaves alone what looks like a phone only by its digits: ISO dates, times and timestamps
(``2026-12-03 00:51``, ``2026-12-03T00:51:07+00:00``), run ids, UUIDs, counts with thousands
separators and decimals. Ten bare digits (``2065550100``) are a phone number: Herald prints
counts with thousands separators, so a count never looks like one.

:func:`install_log_redaction` makes every log record of the process pass through
:func:`redact`, whatever handler or formatter shows it; the CLI and the Klaviyo client call it.

>>> redact("ann@example.com at 2026-12-03 00:51 from (206) 555-0100, 1,234 rows")
'[email] at 2026-12-03 00:51 from [phone], 1,234 rows'
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

from herald.exceptions import HeraldError

_MIN_SECRET = 8  # a shorter "secret" would blank out ordinary words; none of ours is shorter

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()

# --- the patterns -------------------------------------------------------------------------

# Email: a local part of anything but spaces and the characters that delimit an address in
# text (quotes, brackets, separators), an "@", and two or more dotted labels. Unicode
# letters and marks are allowed everywhere, as email-validator allows them (SMTPUTF8, IDNA),
# and so is every RFC 5322 atext character ("{", "=", "/", "|" …).
_LOCAL = r"""[^\s@<>()\[\],;:"\\]"""
_LABEL = r"""[^\s@<>()\[\]{},;:"'`=\\/.?#&%+!*$^~|]"""
_EMAIL = rf"{_LOCAL}+(?:@|%40){_LABEL}+(?:\.{_LABEL}+)+"

_KEY = r"(?<![A-Za-z0-9])pk_(?=[A-Za-z0-9_]*\d)[A-Za-z0-9_]{16,}"
_AUTH = r"(?P<scheme>Klaviyo-API-Key|Bearer)\s+[^\s'\"\]>,;]+"

# Kept as they are, so no phone shape can start inside them.
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_CLOCK = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
_OFFSET = r"(?:Z|[+-]\d{2}(?::?\d{2})?)"
_ISO = rf"\d{{4}}-\d{{2}}-\d{{2}}(?:[T ]{_CLOCK}{_OFFSET}?)?|{_CLOCK}{_OFFSET}?"
_KEEP = rf"(?<![\w.]){_UUID}(?!\w)|(?<![\d.]){_ISO}"

# Phones. A group never starts a date or a time, so "+1 206 555 0100 2026-12-03" and
# "… 00:51" keep their dates and times.
_NOT_DATE = r"(?!\d{4}-\d\d-\d\d|\d\d?:\d\d)"
_INTL = (
    r"(?:(?<![\w+])\+|(?<![\w.,-])011[ .-]?)\d{1,4}"
    rf"(?:[ .-]?\(\d{{1,4}}\))?(?:[ .-]?{_NOT_DATE}\d{{1,6}}){{0,7}}"
)
_AFTER = r"(?!\w|[.,:-]\d)"
# North American numbers: area code and exchange start with 2-9 (so 1000000000 is a count, not
# a phone). Dots only all the way ("206.555.0100"), so a decimal such as 100000.0000 stays.
_NANP = (
    r"(?<![\w.,+-])(?:(?:1\.)?[2-9]\d\d\.[2-9]\d\d\.\d{4}"
    rf"|(?:1[ -]?)?(?:\([2-9]\d\d\)[ -]?|[2-9]\d\d[ -]?)[2-9]\d\d[ -]?\d{{4}}){_AFTER}"
)
_LOCAL7 = rf"(?<![\w.,+-])[2-9]\d\d-\d{{4}}{_AFTER}"

_PATTERN = re.compile(
    rf"(?P<email>{_EMAIL})|(?P<auth>{_AUTH})|(?P<key>{_KEY})|(?P<keep>{_KEEP})"
    rf"|(?P<intl>{_INTL})|(?P<phone>{_NANP}|{_LOCAL7})"
)
_DIGIT = re.compile(r"\d")
# What may stand before an address and is kept: a quote, or a name and "=" ("email=ann@…").
_LEAD = re.compile(r"(?:['`]|[A-Za-z_][\w.-]*=)(?=[^@]+@)")


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "email":
        lead = _LEAD.match(match[0])
        return f"{lead[0]}[email]" if lead else "[email]"
    if kind == "key":
        return "[key]"
    if kind == "auth":
        return f"{match['scheme']} [key]"
    if kind == "intl" and len(_DIGIT.findall(match[0])) < 7:
        return match[0]  # "+12 added", "+05:30": too short for a phone number
    if kind in ("intl", "phone"):
        return "[phone]"
    return match[0]


# --- the public functions -------------------------------------------------------------------


def register_secret(value: str | None) -> None:
    """Remember a secret so :func:`redact` removes its exact value from now on.

    Values shorter than 8 characters are ignored: they would blank out ordinary words. The
    value's ``repr`` form (``\\u200b`` for a zero-width space) is removed too.
    """
    global _secrets
    if not value or len(value) < _MIN_SECRET:
        return
    forms = {value, repr(value)[1:-1]}
    with _lock:
        _secrets = tuple(sorted(set(_secrets) | forms, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` without secrets, API keys, email addresses and phone numbers.

    >>> redact("Illegal header value b'Klaviyo-API-Key pk_live_0123456789abcdef\\\\n'")
    "Illegal header value b'Klaviyo-API-Key [key]'"
    >>> redact("run run_20261203T005107_a1b2c3 at 2026-12-03T00:51:07+00:00: 12.5 s")
    'run run_20261203T005107_a1b2c3 at 2026-12-03T00:51:07+00:00: 12.5 s'
    >>> redact("Invalid phone +44 20 7946 0958 or 206.555.0100 for zoë@bücher.de")
    'Invalid phone [phone] or [phone] for [email]'
    """
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "[secret]")
    return _PATTERN.sub(_replace, text)


def error_line(error: BaseException) -> str:
    """Why something failed, in one redacted line: Herald's own message as it is (its lines
    joined), any other error named by its type first.

    >>> error_line(RuntimeError("disk full at ann@example.com\\nsecond line"))
    'RuntimeError: disk full at [email] second line'
    """
    text = " ".join(redact(str(error)).split())
    if isinstance(error, HeraldError):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def redact_data(value: Any) -> Any:
    """A copy of JSON-like data (dicts, lists, strings) with every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


# --- logging ----------------------------------------------------------------------------------


class _RedactedRecord(logging.LogRecord):
    """A log record whose message, traceback text and stack are redacted when read, so every
    handler and formatter shows them redacted while filters still see the original args."""

    def getMessage(self) -> str:
        return redact(super().getMessage())

    @property  # type: ignore[override]
    def exc_text(self) -> str | None:
        text = self.__dict__.get("exc_text")
        return None if text is None else redact(text)

    @exc_text.setter
    def exc_text(self, value: str | None) -> None:
        self.__dict__["exc_text"] = value

    @property  # type: ignore[override]
    def stack_info(self) -> str | None:
        text = self.__dict__.get("stack_info")
        return None if text is None else redact(text)

    @stack_info.setter
    def stack_info(self, value: str | None) -> None:
        self.__dict__["stack_info"] = value


def install_log_redaction() -> None:
    """Make every log record created from now on redact its message and traceback.

    Idempotent. It wraps the process's log record factory, so records from any logger (Herald's,
    httpx's, uvicorn's) are covered whatever handler shows them.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_herald_redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if type(record) is logging.LogRecord:
            record.__class__ = _RedactedRecord
        elif not isinstance(record, _RedactedRecord):
            record.msg = redact(record.getMessage())
            record.args = None
        return record

    factory._herald_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
