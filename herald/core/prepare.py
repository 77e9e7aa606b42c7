"""Turn a recipient group's rows into the records one destination receives (DESIGN §1.3).

A run's recipients snapshot has one column per attribute *source*; a destination receives one
column per destination *field*. On the way, emails and phone numbers are normalized and
checked, because Klaviyo rejects invalid ones and a rejected profile costs a slot in a
rate-limited bulk import (FACTS §4, §7):

- **Emails** are trimmed, lower-cased and syntax-checked with email-validator
  (``check_deliverability=False``: no DNS). Klaviyo keys profiles by email, so when the
  destination requires an email, a row without a valid one is dropped (``missing_email``,
  ``invalid_email``), and customers sharing one email keep only the smallest customer key
  (``duplicate_email``). Customers whose email an earlier group of the campaign keeps at the
  destination (``taken``, see ``herald.core.claims``) are dropped at every destination
  (``duplicate_email_in_campaign``).
- **Phone numbers** become E.164 with phonenumbers. Strictness: a number must pass
  ``is_valid_number`` (it matches a number range the numbering plan assigns), not only
  ``is_possible_number`` (right length). Klaviyo validates phone numbers and rejects invalid
  ones; integrators pre-validate with libphonenumber (FACTS §4), so a number that is merely
  possible (such as an unassigned US area code) would be rejected in the import and is better
  counted here. An invalid phone never drops the row: the phone becomes NULL and is counted as
  ``invalid_phone``.

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

Batches. :func:`normalize_rows` prepares any slice of a group on its own (the slow path's
distinct values are per slice); only duplicate emails need every row. :func:`prepare_records`
does both on a whole table; a run streams a group instead (``herald.runs.prepared``) and finds
duplicates in SQL, with the same winner.

``herald.core`` is pure: nothing here does I/O. Messages never contain an email or a phone
number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from email_validator import SPECIAL_USE_DOMAIN_NAMES as _SPECIAL_USE
from email_validator import EmailNotValidError, validate_email
from phonenumbers.phonemetadata import PhoneMetadata

from herald.core.campaigns.model import AttributeMapping
from herald.core.destinations import DestinationKind

__all__ = [
    "DUPLICATE_EMAIL",
    "DUPLICATE_EMAIL_IN_CAMPAIGN",
    "FAST_EMAIL_PATTERN",
    "INVALID_EMAIL",
    "INVALID_PHONE",
    "MISSING_EMAIL",
    "MISSING_PHONE",
    "NormalizedRows",
    "Prepared",
    "RecordPlan",
    "empty_dropped",
    "fast_email_mask",
    "fast_phone_mask",
    "identity_fields",
    "normalize_emails",
    "normalize_phones",
    "normalize_rows",
    "plan_records",
    "prepare_records",
    "record_columns",
]

MISSING_EMAIL = "missing_email"
INVALID_EMAIL = "invalid_email"
DUPLICATE_EMAIL = "duplicate_email"
DUPLICATE_EMAIL_IN_CAMPAIGN = "duplicate_email_in_campaign"
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


# --- records --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A group's records for one destination, and what was left out.

    Attributes:
        records: one column per destination field, in the mapping's order, then the customer
            key column (unless a field already is the key), in the order of the input rows.
        drops: reason → count. Row reasons (``missing_email``, ``invalid_email``,
            ``duplicate_email`` where the destination requires an email) remove the record;
            value reasons (``invalid_phone``, and ``invalid_email`` where email is optional)
            only blank that value in a record that is still sent.
        dropped: one row per (customer, reason): the key column, ``reason``, and ``skipped``
            (True when the record was not sent at all). Holds no email or phone.
        key: the name of the customer key column.
        fields: the destination fields: ``records.select(fields)`` is what is sent.
    """

    records: pa.Table
    drops: dict[str, int]
    dropped: pa.Table
    key: str
    fields: tuple[str, ...]


def identity_fields(kind: DestinationKind) -> tuple[str, str]:
    """The destination fields that hold the email and the phone number for ``kind``.

    >>> from herald.core.campaigns.model import AttributeMapping
    >>> sftp = DestinationKind("sftp", "Klaviyo", (AttributeMapping("email", "Email"),),
    ...                        email_field="Email", phone_field="PhoneNumber")
    >>> identity_fields(sftp)
    ('Email', 'PhoneNumber')
    """
    return kind.email_field, kind.phone_field


@dataclass(frozen=True)
class RecordPlan:
    """How one destination's records are made from a group's rows, checked before any row is
    read (see :func:`plan_records`).

    Attributes:
        attributes: source → field mappings, in the order the destination's columns take.
        key: the customer key column.
        kind: the destination's kind.
        default_region: the region of national phone formats.
        email_field: the field normalized as an email.
        phone_field: the field normalized as a phone number.
        required: the email is required: a row without a valid one is dropped.
        dedupe: keep one customer per normalized email (the smallest key).
        in_campaign: customers whose email an earlier group of the campaign keeps are
            dropped (``duplicate_email_in_campaign``, see ``herald.core.claims``).
    """

    attributes: tuple[AttributeMapping, ...]
    key: str
    kind: DestinationKind
    default_region: str
    email_field: str
    phone_field: str
    required: bool
    dedupe: bool
    in_campaign: bool = False

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(m.field for m in self.attributes)

    @property
    def dedupes_emails(self) -> bool:
        """Whether duplicates are looked for: deduping, and a field holds the email."""
        return self.dedupe and self.email_field in self.fields

    @property
    def reasons(self) -> tuple[tuple[str, bool], ...]:
        """``(reason, skipped)`` for every reason a row may have, in the order
        :attr:`Prepared.dropped` lists them; ``skipped`` reasons remove the record."""
        reasons: list[tuple[str, bool]] = []
        for mapping in self.attributes:
            if mapping.field == self.email_field:
                if self.required:
                    reasons += [(MISSING_EMAIL, True), (INVALID_EMAIL, True)]
                else:
                    reasons.append((INVALID_EMAIL, False))
                if self.dedupe:
                    reasons.append((DUPLICATE_EMAIL, True))
                if self.in_campaign:
                    reasons.append((DUPLICATE_EMAIL_IN_CAMPAIGN, True))
            elif mapping.field == self.phone_field:
                reasons.append((INVALID_PHONE, False))
        return tuple(reasons)


def plan_records(
    columns: Sequence[str],
    attributes: Sequence[AttributeMapping],
    *,
    key: str = "amperity_id",
    kind: DestinationKind,
    default_region: str = "US",
    dedupe: bool | None = None,
    in_campaign: bool = False,
) -> RecordPlan:
    """Check a mapping against the columns of a group's rows; the plan to prepare them.

    Args:
        columns: the column names of the rows (the recipients snapshot's).
        attributes, key, kind, default_region, dedupe: as for :func:`prepare_records`.
        in_campaign: customers whose email an earlier group keeps will be dropped.

    Raises:
        ValueError: as :func:`prepare_records` does.
    """
    _check_mapping(columns, attributes, key)
    email_field, phone_field = identity_fields(kind)
    fields = [m.field for m in attributes]
    required = email_field in kind.required_fields
    if required and email_field not in fields:
        msg = f"destination '{kind.type}' requires field '{email_field}'; map an attribute to it"
        raise ValueError(msg)
    return RecordPlan(
        attributes=tuple(attributes),
        key=key,
        kind=kind,
        default_region=default_region,
        email_field=email_field,
        phone_field=phone_field,
        required=required,
        dedupe=required if dedupe is None else dedupe,
        in_campaign=in_campaign,
    )


def _check_mapping(
    columns: Sequence[str], attributes: Sequence[AttributeMapping], key: str
) -> None:
    if key not in columns:
        msg = f"the recipients have no customer key column '{key}'"
        raise ValueError(msg)
    seen: set[str] = set()
    for mapping in attributes:
        if mapping.source not in columns:
            msg = (
                f"attribute '{mapping.source}' (for field '{mapping.field}') is not a column "
                "of the recipients"
            )
            raise ValueError(msg)
        if mapping.field in seen:
            msg = f"field '{mapping.field}' is mapped twice; map each destination field once"
            raise ValueError(msg)
        if mapping.field == key and mapping.source != key:
            msg = f"field '{key}' would hide the customer key; map it from '{key}' or rename it"
            raise ValueError(msg)
        seen.add(mapping.field)


@dataclass(frozen=True)
class NormalizedRows:
    """Rows with their emails and phones normalized, before duplicates are looked for.

    Rows are normalized on their own, so a group can be normalized a batch at a time; only
    duplicates need every row (:func:`_duplicate_emails`, or a query over all the batches).

    Attributes:
        values: field → values as the destination receives them, in the plan's field order.
        keys: the customer key column as it came.
        flags: reason → which rows have it, for every reason of the plan but
            ``duplicate_email``.
        keep: the rows no row reason removes (duplicates aside).
    """

    values: dict[str, pa.Array | pa.ChunkedArray]
    keys: pa.Array
    flags: dict[str, np.ndarray]
    keep: np.ndarray

    @property
    def num_rows(self) -> int:
        return len(self.keep)


def normalize_rows(rows: pa.Table | pa.RecordBatch, plan: RecordPlan) -> NormalizedRows:
    """Normalize emails and phones of some of a group's rows and flag their reasons.

    Args:
        rows: rows of the recipients snapshot (all of a group's, or one batch of them).
        plan: from :func:`plan_records`.
    """
    keys = _as_array(rows.column(plan.key))
    keep = np.ones(rows.num_rows, dtype=bool)
    flags: dict[str, np.ndarray] = {}
    values: dict[str, pa.Array | pa.ChunkedArray] = {}
    for mapping in plan.attributes:
        column = rows.column(mapping.source)
        if mapping.field == plan.email_field:
            column, reasons = normalize_emails(column)
            flags[INVALID_EMAIL] = _is(reasons, INVALID_EMAIL)
            if plan.required:
                flags[MISSING_EMAIL] = _is(reasons, MISSING_EMAIL)
                keep &= ~(flags[MISSING_EMAIL] | flags[INVALID_EMAIL])
        elif mapping.field == plan.phone_field:
            column, reasons = normalize_phones(column, plan.default_region)
            flags[INVALID_PHONE] = _is(reasons, INVALID_PHONE)
        values[mapping.field] = column
    return NormalizedRows(values=values, keys=keys, flags=flags, keep=keep)


def _as_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks()
    return column


def _duplicate_emails(emails: pa.Array, keys: pa.Array, candidates: pa.Array) -> np.ndarray:
    """Rows whose email another candidate row with a smaller key also has.

    The winner of an email is the candidate with the smallest key in the key column's natural
    order (NULL last), and of equal keys the first row.
    """
    mask = np.zeros(len(emails), dtype=bool)
    positions = pc.indices_nonzero(pc.and_(candidates, pc.is_valid(emails)))
    if len(positions) < 2:
        return mask
    table = pa.table({"e": emails.take(positions), "k": keys.take(positions), "i": positions})
    ordered = table.take(pc.sort_indices(table, sort_keys=[("e", "ascending"), ("k", "ascending")]))
    sorted_emails = ordered.column("e").combine_chunks()
    same_as_previous = pc.equal(sorted_emails[1:], sorted_emails[:-1]).to_numpy(
        zero_copy_only=False
    )
    later = ordered.column("i").to_numpy()[1:][same_as_previous]
    mask[later] = True
    return mask


def _taken(keys: pa.Array, taken: pa.Array | None, has_email: pa.Array) -> np.ndarray:
    """Rows with an email whose key is one of ``taken``."""
    if taken is None or len(taken) == 0:
        return np.zeros(len(keys), dtype=bool)
    found = pc.is_in(keys, value_set=pc.cast(taken, keys.type))
    return pc.fill_null(pc.and_(found, has_email), False).to_numpy(zero_copy_only=False)


def record_columns(
    plan: RecordPlan, values: dict[str, pa.Array], keys: pa.Array
) -> dict[str, pa.Array]:
    """The columns of the records: the fields, then the key column unless a field is it."""
    columns = dict(values)
    if plan.key not in columns:
        columns[plan.key] = keys
    return columns


def _issues(
    plan: RecordPlan, flags: dict[str, np.ndarray], keep: np.ndarray
) -> list[tuple[str, np.ndarray, bool]]:
    """``(reason, rows, skipped)`` in the plan's order: the rows counted for each reason.

    A row reason counts every row that has it; a blanked value counts only in a record that is
    still sent.

    Args:
        plan: the plan.
        flags: reason → rows, every reason of the plan (``duplicate_email`` included).
        keep: the records that are sent.
    """
    return [
        (reason, flags[reason] if skipped else flags[reason] & keep, skipped)
        for reason, skipped in plan.reasons
    ]


def _count_drops(found: Sequence[tuple[str, np.ndarray, bool]]) -> dict[str, int]:
    """reason → count, for the reasons found (see :func:`_issues`), sorted by reason."""
    counts: dict[str, int] = {}
    for reason, rows, _ in found:
        count = int(rows.sum())
        if count:
            counts[reason] = counts.get(reason, 0) + count
    return dict(sorted(counts.items()))


def _dropped_rows(
    found: Sequence[tuple[str, np.ndarray, bool]], keys: pa.Array, key: str
) -> list[pa.Table]:
    """One table per reason found (``key``, ``reason``, ``skipped``), in order; none empty."""
    parts = []
    for reason, rows, skipped in found:
        if rows.any():
            chosen = keys.filter(pa.array(rows))
            parts.append(
                pa.table(
                    {
                        key: chosen,
                        "reason": pa.repeat(pa.scalar(reason, pa.string()), len(chosen)),
                        "skipped": pa.repeat(pa.scalar(skipped), len(chosen)),
                    }
                )
            )
    return parts


def empty_dropped(key: str, key_type: pa.DataType) -> pa.Table:
    """A dropped table without rows."""
    return pa.table(
        {
            key: pa.array([], key_type),
            "reason": pa.array([], pa.string()),
            "skipped": pa.array([], pa.bool_()),
        }
    )


def prepare_records(
    rows: pa.Table,
    attributes: Sequence[AttributeMapping],
    *,
    key: str = "amperity_id",
    kind: DestinationKind,
    default_region: str = "US",
    dedupe: bool | None = None,
    taken: pa.Array | None = None,
) -> Prepared:
    """Build the records a destination receives from one group's rows.

    The field named by :func:`identity_fields` as the email is normalized as an email, the
    phone field as a phone. Where the destination requires the email field (Klaviyo), a row
    without a valid email is dropped, and of the customers sharing one normalized email only
    the one with the smallest customer key (in the key column's natural order) is kept. An
    invalid phone only blanks the phone.

    Args:
        rows: the group's rows of the recipients snapshot: the key column and one column per
            attribute source (a source may be the key column itself).
        attributes: source → field mappings, in the order the destination's columns take.
        key: the customer key column.
        kind: the destination's kind.
        default_region: the region of national phone formats.
        dedupe: keep one customer per email; by default, where the email is required (a
            destination that keys profiles by email). A CSV file keeps every customer.
        taken: the keys of customers whose email an earlier group of the campaign keeps
            (``herald.runs.claims``): those with a valid email are dropped as
            ``duplicate_email_in_campaign``, whatever the destination.

    Returns:
        The records, the counts per reason and the customers left out or blanked.

    Raises:
        ValueError: a source column is missing, a field is mapped twice or would hide the key,
            or a required field has no mapping.

    >>> api = DestinationKind("api", "Klaviyo", (), required_fields=("email",), is_list=True)
    >>> rows = pa.table({"amperity_id": ["b", "a", "c", "d"],
    ...                  "email": ["X@Y.com", "x@y.com ", "nope", "d@y.com"],
    ...                  "phone": ["206-555-0100", None, None, "555"]})
    >>> p = prepare_records(rows, [AttributeMapping("email", "email"),
    ...                           AttributeMapping("phone", "phone_number"),
    ...                           AttributeMapping("amperity_id", "external_id")],
    ...                     kind=api)
    >>> p.records.to_pylist()
    [{'email': 'x@y.com', 'phone_number': None, 'external_id': 'a', 'amperity_id': 'a'},
     {'email': 'd@y.com', 'phone_number': None, 'external_id': 'd', 'amperity_id': 'd'}]
    >>> p.drops
    {'duplicate_email': 1, 'invalid_email': 1, 'invalid_phone': 1}
    """
    plan = plan_records(
        rows.column_names,
        attributes,
        key=key,
        kind=kind,
        default_region=default_region,
        dedupe=dedupe,
        in_campaign=taken is not None,
    )
    normalized = normalize_rows(rows, plan)
    flags, keep = dict(normalized.flags), normalized.keep.copy()
    if plan.in_campaign and plan.email_field in plan.fields:
        emails = _as_array(normalized.values[plan.email_field])
        lost = _taken(normalized.keys, taken, pc.is_valid(emails))
        flags[DUPLICATE_EMAIL_IN_CAMPAIGN] = lost & keep
        keep &= ~lost
    if plan.dedupes_emails:
        emails = _as_array(normalized.values[plan.email_field])
        flags[DUPLICATE_EMAIL] = _duplicate_emails(emails, normalized.keys, pa.array(keep))
        keep &= ~flags[DUPLICATE_EMAIL]
    records = pa.table(record_columns(plan, normalized.values, normalized.keys))
    found = _issues(plan, flags, keep)
    parts = _dropped_rows(found, normalized.keys, key)
    return Prepared(
        records=records.filter(pa.array(keep)),
        drops=_count_drops(found),
        dropped=pa.concat_tables(parts) if parts else empty_dropped(key, normalized.keys.type),
        key=key,
        fields=plan.fields,
    )


def _is(reasons: pa.Array, reason: str) -> np.ndarray:
    return pc.fill_null(pc.equal(reasons, reason), False).to_numpy(zero_copy_only=False)
