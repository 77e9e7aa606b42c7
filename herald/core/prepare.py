"""Turn a recipient group's rows into the records one destination receives (DESIGN §1.3).

A run's recipients snapshot has one column per attribute *source*; a destination receives one
column per destination *field*. On the way, emails and phone numbers are normalized and
checked (`herald.core.normalize`), and rows are dropped by the destination's rules:

- **Emails**: Klaviyo keys profiles by email, so when the destination requires an email, a
  row without a valid one is dropped (``missing_email``, ``invalid_email``), and customers
  sharing one email keep only the smallest customer key (``duplicate_email``). Customers whose
  email an earlier group of the campaign keeps at the destination (``taken``, see
  ``herald.core.claims``) are dropped at every destination (``duplicate_email_in_campaign``).
- **Phone numbers**: an invalid phone never drops the row: the phone becomes NULL and is
  counted as ``invalid_phone``.

Batches. :func:`normalize_rows` prepares any slice of a group on its own (the slow path's
distinct values are per slice); only duplicate emails need every row. :func:`prepare_records`
does both on a whole table; a run streams a group instead (``herald.runs.prepared``) and finds
duplicates in SQL, with the same winner.

``herald.core`` is pure: nothing here does I/O. Messages never contain an email or a phone
number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from herald.core.campaigns.model import AttributeMapping
from herald.core.destinations import DestinationKind
from herald.core.normalize import (
    FAST_EMAIL_PATTERN,
    INVALID_EMAIL,
    INVALID_PHONE,
    MISSING_EMAIL,
    MISSING_PHONE,
    fast_email_mask,
    fast_phone_mask,
    normalize_emails,
    normalize_phones,
)

__all__ = [
    "DUPLICATE_EMAIL",
    "DUPLICATE_EMAIL_IN_CAMPAIGN",
    "FAST_EMAIL_PATTERN",
    "INVALID_EMAIL",
    "INVALID_PHONE",
    "MISSING_EMAIL",
    "MISSING_IDENTIFIER",
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
    "skipped_rows",
]

DUPLICATE_EMAIL = "duplicate_email"
DUPLICATE_EMAIL_IN_CAMPAIGN = "duplicate_email_in_campaign"
MISSING_IDENTIFIER = "missing_identifier"
"""A record with none of its destination's identifier fields filled (see
`DestinationKind.identifier_fields`): left out."""


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
        if self.identifiers:
            reasons.append((MISSING_IDENTIFIER, True))
        return tuple(reasons)

    @property
    def identifiers(self) -> tuple[str, ...]:
        """The identifier fields this plan sends (a record needs one of them filled)."""
        return tuple(f for f in self.kind.identifier_fields if f in self.fields)


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
    if plan.identifiers:
        flags[MISSING_IDENTIFIER] = ~_filled_somewhere([values[f] for f in plan.identifiers])
        keep &= ~flags[MISSING_IDENTIFIER]
    return NormalizedRows(values=values, keys=keys, flags=flags, keep=keep)


def _filled_somewhere(columns: Sequence[pa.Array | pa.ChunkedArray]) -> np.ndarray:
    """Rows where at least one of ``columns`` holds a value (text: not only blanks)."""
    filled = np.zeros(len(columns[0]), dtype=bool)
    for column in columns:
        valid = pc.is_valid(column)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            valid = pc.and_(valid, pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(column)), 0))
        filled |= np.asarray(pc.fill_null(valid, False).to_numpy(zero_copy_only=False), bool)
    return filled


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
    taken_rows = pc.fill_null(pc.and_(found, has_email), False)
    return np.asarray(taken_rows.to_numpy(zero_copy_only=False), dtype=np.bool_)


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


def skipped_rows(dropped: pa.Table, key: str) -> pa.Table:
    """The customers left out (``skipped`` rows of a ``dropped`` table) as text ``key`` and
    ``reason``: what a delivery records as ``skipped_invalid``.

    >>> dropped = pa.table({"id": [1, 2], "reason": ["invalid_email", "invalid_phone"],
    ...                     "skipped": [True, False]})
    >>> skipped_rows(dropped, "id").to_pylist()
    [{'key': '1', 'reason': 'invalid_email'}]
    """
    if "skipped" in dropped.column_names:
        dropped = dropped.filter(pc.field("skipped"))
    return pa.table(
        {
            "key": pc.cast(dropped.column(key), pa.string()),
            "reason": pc.cast(dropped.column("reason"), pa.string()),
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
    # Over 60 lines only for its docstring (every argument, and an example a test runs).
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
    flags, keep = _drop_duplicates(plan, normalized, taken)
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


def _drop_duplicates(
    plan: RecordPlan, normalized: NormalizedRows, taken: pa.Array | None
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every reason's rows, duplicates included, and the rows kept: customers an earlier group
    keeps go first, so a duplicate's winner is always a customer this group sends."""
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
    return flags, keep


def _is(reasons: pa.Array, reason: str) -> np.ndarray:
    matches = pc.fill_null(pc.equal(reasons, reason), False)
    return np.asarray(matches.to_numpy(zero_copy_only=False), dtype=np.bool_)
