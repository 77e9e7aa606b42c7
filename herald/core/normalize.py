"""Normalize and check emails and phone numbers, the values a destination keys profiles by.

Klaviyo rejects invalid emails and phone numbers, and a rejected profile costs a slot in a
rate-limited bulk import (FACTS §4, §7), so both are normalized and checked before a record is
made (what a missing or invalid value does to the record is `herald.core.prepare`'s rule):

- **Emails** are trimmed, lower-cased and syntax-checked with email-validator
  (``check_deliverability=False``: no DNS).
- **Phone numbers** become E.164 with phonenumbers. Strictness: a number must pass
  ``is_valid_number`` (it matches a number range the numbering plan assigns), not only
  ``is_possible_number`` (right length). Klaviyo validates phone numbers and rejects invalid
  ones; integrators pre-validate with libphonenumber (FACTS §4), so a number that is merely
  possible (such as an unassigned US area code) would be rejected in the import and is better
  counted here. An invalid phone becomes NULL, with the reason ``invalid_phone``.

Speed. email-validator and phonenumbers cost about 25 µs per call, so 1M rows would take
half a minute. Both checks therefore have a vectorized fast path in Arrow compute (RE2), and
only the distinct values outside it go through the libraries:

- Emails: :data:`FAST_EMAIL_PATTERN` accepts only plain ASCII dot-atom addresses that
  email-validator certainly accepts unchanged (local part ≤ 64 characters of RFC 5322
  ``atext`` without leading, trailing or double dots; a domain of LDH labels ≤ 63 characters,
  not starting or ending with ``-``, without ``--``, under an alphabetic TLD that is not a
  special-use name; total ≤ 254). A hypothesis test proves the claim against email-validator.
- Phones: North American numbers written as ``+1 2065551234``, ``(206) 555-1234``,
  ``206.555.1234``, ``1-206-555-1234`` and the like. Their 10-digit national number is checked
  with the *same* metadata patterns phonenumbers uses for the United States (read from
  phonenumbers at import time, so they follow its version). ``is_valid_number`` looks at the
  regions of country code 1 in order and the United States comes first without a
  leading-digits rule, so a number that is a known US number type is valid, and its E.164 form
  is ``+1`` and the 10 digits. Anything else (Canada and the Caribbean, other countries,
  extensions, letters) takes the slow path. A hypothesis test checks the fast path against
  phonenumbers.

``herald.core`` is pure: nothing here does I/O. Messages never contain an email or a phone
number.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from email_validator import SPECIAL_USE_DOMAIN_NAMES as _SPECIAL_USE
from email_validator import EmailNotValidError, validate_email
from phonenumbers.phonemetadata import PhoneMetadata

__all__ = [
    "FAST_EMAIL_PATTERN",
    "INVALID_EMAIL",
    "INVALID_PHONE",
    "MISSING_EMAIL",
    "MISSING_PHONE",
    "fast_email_mask",
    "fast_phone_mask",
    "normalize_emails",
    "normalize_phones",
]

MISSING_EMAIL = "missing_email"
INVALID_EMAIL = "invalid_email"
MISSING_PHONE = "missing_phone"
INVALID_PHONE = "invalid_phone"

# --- emails ---------------------------------------------------------------------------------

# RFC 5322 atext, lower case only: values are lower-cased before they are matched.
_ATEXT = r"a-z0-9!#$%&'*+/=?^_`{|}~\-"
_LOCAL = rf"[{_ATEXT}](?:[{_ATEXT}.]{{0,62}}[{_ATEXT}])?"  # 1-64 chars, no dot at either end
_LABEL = r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?"  # LDH, ≤ 63, no hyphen at either end
FAST_EMAIL_PATTERN = rf"^{_LOCAL}@(?:{_LABEL}\.)+[a-z]{{2,63}}$"
"""Addresses that email-validator accepts unchanged (with the exclusions of
:data:`_FAST_EMAIL_EXCLUDE`); RE2 syntax, for ``pyarrow.compute.match_substring_regex``."""

# What RE2 cannot say without look-arounds, as a second pattern that sends a value to the
# slow path: a double dot in the local part; "--" anywhere in the domain (IDNA forbids it in
# positions 3-4 of a label and "xn--" labels must be valid Punycode, so let the library
# judge); special-use TLDs, which email-validator refuses as not globally deliverable.
_SPECIAL = "|".join(re.escape(name) for name in sorted(_SPECIAL_USE))
_FAST_EMAIL_EXCLUDE = rf"\.\.|@[^@]*--|[@.](?:{_SPECIAL})$"
_EMAIL_MAX_LENGTH = 254


def _as_strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One string array, whatever chunking or type the column came in."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], pa.string())
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    return values


def _blank_to_null(trimmed: pa.Array) -> pa.Array:
    empty = pc.equal(pc.utf8_length(trimmed), 0)
    return pc.if_else(empty, pa.scalar(None, pa.string()), trimmed)


def fast_email_mask(cleaned: pa.Array) -> pa.Array:
    """Which trimmed, lower-cased values the vectorized fast path accepts as they are.

    Args:
        cleaned: emails already trimmed and lower-cased.

    Returns:
        A boolean array, NULL where the value is NULL.

    >>> fast_email_mask(pa.array(["ann@example.com", "ann..b@example.com", "ann@x.test"]))
    <pyarrow.lib.BooleanArray object at ...>
    [
      true,
      false,
      false
    ]
    """
    shape = pc.match_substring_regex(cleaned, FAST_EMAIL_PATTERN)
    excluded = pc.match_substring_regex(cleaned, _FAST_EMAIL_EXCLUDE)
    short = pc.less_equal(pc.binary_length(cleaned), _EMAIL_MAX_LENGTH)
    return pc.and_(pc.and_(shape, pc.invert(excluded)), short)


def _email_slow(value: str) -> str | None:
    """email-validator's normalized form of one address, or None when it is invalid."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def _slow_path(values: pa.Array, todo: pa.Array, check: Callable[[str], str | None]) -> pa.Array:
    """``check`` applied once per distinct value where ``todo``; NULL elsewhere."""
    distinct = pc.unique(values.filter(todo))
    if len(distinct) == 0:
        return pa.nulls(len(values), pa.string())
    results = pa.array([check(v) for v in distinct.to_pylist()], pa.string())
    positions = pc.index_in(values, value_set=distinct)
    # A value seen by the fast path may equal a slow one only if todo said so: mask to be exact.
    return pc.if_else(todo, results.take(positions), pa.scalar(None, pa.string()))


def normalize_emails(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Trim, lower-case and syntax-check emails.

    Values the fast path (:data:`FAST_EMAIL_PATTERN`) accepts are kept as they are; each
    distinct other value goes through email-validator without DNS, and its normalized form is
    kept (so ``Ann@Bücher.DE`` becomes ``ann@bücher.de``).

    Args:
        values: emails as strings (any other type is cast to string).

    Returns:
        ``(emails, reasons)``: the normalized emails with NULL where missing or invalid, and
        per row NULL (valid), ``"missing_email"`` (NULL or blank) or ``"invalid_email"``.

    >>> emails, reasons = normalize_emails(pa.array([" Ann@Example.COM ", "", None, "a@b"]))
    >>> emails.to_pylist()
    ['ann@example.com', None, None, None]
    >>> reasons.to_pylist()
    [None, 'missing_email', 'missing_email', 'invalid_email']
    """
    cleaned = _blank_to_null(pc.utf8_lower(pc.utf8_trim_whitespace(_as_strings(values))))
    fast = pc.fill_null(fast_email_mask(cleaned), False)
    todo = pc.and_(pc.is_valid(cleaned), pc.invert(fast))
    emails = pc.if_else(fast, cleaned, _slow_path(cleaned, todo, _email_slow))
    return emails, _reasons(cleaned, emails, MISSING_EMAIL, INVALID_EMAIL)


def _reasons(cleaned: pa.Array, result: pa.Array, missing: str, invalid: str) -> pa.Array:
    none = pa.scalar(None, pa.string())
    bad = pc.if_else(pc.is_valid(result), none, pa.scalar(invalid))
    return pc.if_else(pc.is_null(cleaned), pa.scalar(missing), bad)


# --- phones ---------------------------------------------------------------------------------

_NANP_NUMBER = r"(?:\([2-9][0-9]{2}\)|[2-9][0-9]{2})[ .\-]?[0-9]{3}[ .\-]?[0-9]{4}"
# With a national default region ("US") national formats parse as NANP too; with any other
# region only an explicit "+1" says the number is North American.
_FAST_PHONE_NATIONAL = rf"^(?:(?:\+1|1)[ .\-]?)?{_NANP_NUMBER}$"
_FAST_PHONE_INTERNATIONAL = rf"^\+1[ .\-]?{_NANP_NUMBER}$"
_NSN_LENGTH = 10


def _accepts_length(desc: object, length: int) -> bool:
    lengths = getattr(desc, "possible_length", ())
    return len(lengths) == 0 or length in lengths


def _us_number_patterns() -> tuple[str, str] | None:
    """RE2 patterns for "a known US number type", from phonenumbers' own metadata.

    Returns None (no fast path) when the metadata no longer has the shape the soundness
    argument in the module docstring relies on.
    """
    meta = PhoneMetadata.metadata_for_region("US", None)
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(1, ())
    if (
        meta is None
        or not regions
        or regions[0] != "US"
        or meta.leading_digits is not None
        or meta.national_prefix_for_parsing != "1"
        or meta.national_prefix_transform_rule is not None
        or not _accepts_length(meta.general_desc, _NSN_LENGTH)
    ):
        return None
    kinds = [
        meta.premium_rate,
        meta.toll_free,
        meta.shared_cost,
        meta.voip,
        meta.personal_number,
        meta.pager,
        meta.uan,
        meta.voicemail,
        meta.fixed_line,
        meta.mobile,
    ]
    typed = [
        f"(?:{d.national_number_pattern})"
        for d in kinds
        if d is not None and d.national_number_pattern and _accepts_length(d, _NSN_LENGTH)
    ]
    general = meta.general_desc
    if not typed or general is None:
        return None
    return f"^(?:{general.national_number_pattern})$", f"^(?:{'|'.join(typed)})$"


def _compiles_in_re2(patterns: tuple[str, str] | None) -> tuple[str, str] | None:
    if patterns is None:
        return None
    try:
        for pattern in patterns:
            pc.match_substring_regex(pa.array(["2065550100"]), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # a pattern RE2 cannot run: everything takes the slow path
    return patterns


_US_PATTERNS = _compiles_in_re2(_us_number_patterns())


def _fast_phone_shape(default_region: str) -> str:
    return _FAST_PHONE_NATIONAL if default_region.upper() == "US" else _FAST_PHONE_INTERNATIONAL


def _fast_phones(cleaned: pa.Array, default_region: str) -> tuple[pa.Array, pa.Array]:
    """(mask, E.164) for the values the fast path settles; E.164 is meaningful where mask."""
    if _US_PATTERNS is None:
        return pa.array(np.zeros(len(cleaned), bool)), pa.nulls(len(cleaned), pa.string())
    shaped = pc.fill_null(
        pc.match_substring_regex(cleaned, _fast_phone_shape(default_region)), False
    )
    digits = pc.replace_substring_regex(cleaned, r"[^0-9]", "")
    national = pc.utf8_slice_codeunits(digits, -_NSN_LENGTH)
    general, typed = _US_PATTERNS
    known = pc.and_(
        pc.match_substring_regex(national, general), pc.match_substring_regex(national, typed)
    )
    mask = pc.and_(shaped, pc.fill_null(known, False))
    return mask, pc.binary_join_element_wise("+1", national, "")


def fast_phone_mask(values: pa.Array | pa.ChunkedArray, default_region: str = "US") -> pa.Array:
    """Which values the vectorized fast path turns into E.164 without phonenumbers.

    Args:
        values: phone numbers as written (trimmed here).
        default_region: the region of national formats.

    Returns:
        A boolean array, False where the value is NULL.

    >>> fast_phone_mask(pa.array(["(206) 555-0100", "+44 20 7946 0000", None])).to_pylist()
    [True, False, False]
    """
    cleaned = _blank_to_null(pc.utf8_trim_whitespace(_as_strings(values)))
    return _fast_phones(cleaned, default_region)[0]


def _phone_slow(value: str, default_region: str) -> str | None:
    """phonenumbers' E.164 form of one number, or None when it is not a valid number."""
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_phones(
    values: pa.Array | pa.ChunkedArray, default_region: str = "US"
) -> tuple[pa.Array, pa.Array]:
    """Phone numbers to E.164; NULL where missing or not a valid number.

    National formats are read in ``default_region``; numbers written with ``+`` keep their
    country. A number must be *valid* (``phonenumbers.is_valid_number``), not just possible,
    because Klaviyo rejects invalid numbers.

    Args:
        values: phone numbers as written (any type is cast to string first).
        default_region: ISO 3166 region of national formats.

    Returns:
        ``(phones, reasons)``: E.164 strings with NULL where missing or invalid, and per row
        NULL (valid), ``"missing_phone"`` (NULL or blank) or ``"invalid_phone"``.

    >>> phones, reasons = normalize_phones(
    ...     pa.array(["(206) 555-0100", "+44 20 7946 0958", "12345", " ", "+1 206 555 0100"]))
    >>> phones.to_pylist()
    ['+12065550100', '+442079460958', None, None, '+12065550100']
    >>> reasons.to_pylist()
    [None, None, 'invalid_phone', 'missing_phone', None]
    """
    cleaned = _blank_to_null(pc.utf8_trim_whitespace(_as_strings(values)))
    fast, fast_e164 = _fast_phones(cleaned, default_region)
    todo = pc.and_(pc.is_valid(cleaned), pc.invert(fast))
    slow = _slow_path(cleaned, todo, lambda v: _phone_slow(v, default_region))
    phones = pc.if_else(fast, fast_e164, slow)
    return phones, _reasons(cleaned, phones, MISSING_PHONE, INVALID_PHONE)
