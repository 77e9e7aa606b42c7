"""A group's desired records as ``desired.parquet``: what a Klaviyo list must hold.

Each record's profile is written as the JSON a bulk import sends, beside its identity (the
identifier Klaviyo matches it on) and the hash of its profile, so the diff decides from narrow
columns alone. The file is always in key order, so the diff and the ledger never sort profiles
(see :mod:`~herald.destinations.klaviyo_api.diff`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from herald.atomic import atomic_path
from herald.core.klaviyo_fields import profile_json
from herald.destinations.klaviyo_api import _parquet
from herald.destinations.klaviyo_api.limits import MAX_PROFILE_BYTES
from herald.engines.duckdb import connect_utc, sql_string
from herald.engines.localdb import BackgroundWriter, local_duckdb, release_arrow_memory

__all__ = ["DESIRED_SCHEMA", "MAX_PROFILE_BYTES", "desired_rows", "is_key_ordered", "write_desired"]

TOO_LARGE = "profile_too_large"

DESIRED_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("email", pa.string()),
        ("phone_number", pa.string()),
        ("external_id", pa.string()),
        ("profile", pa.string()),  # the profile's JSON:API attributes, compact JSON
        # Computed as the file is written, so the diff never reads the profiles to find them
        # (files written before these columns existed get them in the diff):
        ("ident", pa.string()),  # what Klaviyo matches the profile on (_parquet.ident)
        ("attr_hash", pa.string()),  # md5 of the profile: what tells an update
    ]
)

_ORDER_KEY = b"herald.order"
_BY_KEY = b"key"
_KEY_ORDERED_SCHEMA = DESIRED_SCHEMA.with_metadata({_ORDER_KEY: _BY_KEY})


def _text(batch: pa.RecordBatch, name: str) -> pa.Array:
    """A column as text (``str`` of each value), or NULLs when the batch has no such column."""
    if name not in batch.schema.names:
        return pa.nulls(batch.num_rows, pa.string())
    column = batch.column(name)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pc.cast(column, pa.string())
    if pa.types.is_integer(column.type):
        return pc.cast(column, pa.string())  # the digits, as str() writes them
    return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())


def _batches(
    records: pa.Table | pa.RecordBatchReader | Iterable[pa.RecordBatch],
) -> Iterator[pa.RecordBatch]:
    if isinstance(records, pa.Table):
        yield from records.to_batches(max_chunksize=_parquet.BATCH_ROWS)
        return
    for batch in records:
        for first in range(0, batch.num_rows, _parquet.BATCH_ROWS):
            yield batch.slice(first, _parquet.BATCH_ROWS)


_WITHOUT_HASH = pa.schema([f for f in DESIRED_SCHEMA if f.name != "attr_hash"])


def desired_rows(batch: pa.RecordBatch, fields: Sequence[str], key: str) -> pa.Table:
    """A batch's desired rows, all but ``attr_hash`` (see :class:`_Hasher`)."""
    columns = [_text(batch, key)]
    identity = [_text(batch, name) for name in ("email", "phone_number", "external_id")]
    columns += [*identity, profile_json(batch, fields), _identity(*identity)]
    return pa.Table.from_arrays(columns, schema=_WITHOUT_HASH)


def _identity(email: pa.Array, phone_number: pa.Array, external_id: pa.Array) -> pa.Array:
    """:func:`_parquet.ident` in Arrow: a tagged email, else phone number, else external id."""
    tagged = [
        pc.binary_join_element_wise(tag, values, "")
        for tag, values in (("e:", email), ("p:", phone_number), ("x:", external_id))
    ]
    return pc.coalesce(*tagged)


class _Hasher:
    """Adds ``attr_hash``, DuckDB's md5 of each profile (the hash ledgers hold), to desired
    rows; used in the writer's thread, where DuckDB works without holding the GIL."""

    def __init__(self) -> None:
        self._con = connect_utc()

    def __call__(self, rows: pa.Table) -> pa.Table:
        self._con.register("desired_rows", rows)
        try:
            # A scan without ORDER BY keeps the rows' order (preserve_insertion_order).
            [hashes] = self._con.sql("SELECT md5(profile) FROM desired_rows").to_arrow_table()
        finally:
            self._con.unregister("desired_rows")
        return pa.Table.from_arrays([*rows.columns, hashes], schema=DESIRED_SCHEMA)

    def close(self) -> None:
        self._con.close()


class _KeyOrder:
    """Whether keys seen so far, batch after batch, are in order (non-decreasing, no NULL)."""

    def __init__(self) -> None:
        self.ordered = True
        self._last: pa.Scalar | None = None

    def see(self, keys: pa.Array | pa.ChunkedArray) -> None:
        if not self.ordered or len(keys) == 0:
            return
        if keys.null_count:
            self.ordered = False
            return
        if self._last is not None and pc.less(keys[0], self._last).as_py():
            self.ordered = False
            return
        if len(keys) > 1 and pc.any(pc.less(keys[1:], keys[:-1])).as_py():
            self.ordered = False
            return
        self._last = keys[len(keys) - 1]


def write_desired(
    records: pa.Table | pa.RecordBatchReader | Iterable[pa.RecordBatch],
    fields: Sequence[str],
    key: str,
    target: Path,
) -> tuple[int, pa.Table]:
    """Write a group's prepared records as ``desired.parquet`` (see :data:`DESIRED_SCHEMA`),
    in key order.

    Records are streamed batch by batch; each profile's JSON is what a bulk import sends
    (:func:`~herald.core.klaviyo_fields.profile_json`), and its hash is DuckDB's ``md5``,
    computed while the previous batch is written. Records that come in key order
    (``PreparedGroup.batches(order="key")``) are written as they come; others are sorted
    afterwards, so the file is always in key order, which lets :func:`.diff.compute_diff` write
    its files without sorting profiles.

    Args:
        records: ``Prepared.records``, or the same columns as a stream of batches.
        fields: the destination fields to send (``Prepared.fields``).
        key: the customer key column.
        target: where to write.

    Returns:
        The number of rows written, and the keys left out because their profile is over
        Klaviyo's 100 KB cap (``key``, ``reason``).
    """
    too_large: list[pa.Array] = []
    written = 0
    order = _KeyOrder()
    hasher = _Hasher()
    with atomic_path(target) as partial:
        with (
            contextlib.closing(hasher),
            BackgroundWriter(partial, _KEY_ORDERED_SCHEMA, hasher) as writer,
        ):
            for batch in _batches(records):
                rows = desired_rows(batch, fields, key)
                large = pc.greater(pc.binary_length(rows.column("profile")), MAX_PROFILE_BYTES)
                if pc.any(large).as_py():
                    too_large.append(rows.column("key").filter(large).combine_chunks())
                    rows = rows.filter(pc.invert(large))
                order.see(rows.column("key"))
                writer.write(rows)
                written += rows.num_rows
        if not order.ordered:
            _sort_by_key(partial)
    release_arrow_memory()
    keys = pa.concat_arrays(too_large) if too_large else pa.array([], pa.string())
    reasons = pa.array([TOO_LARGE] * len(keys), pa.string())
    return written, pa.table({"key": keys, "reason": reasons})


def _sort_by_key(path: Path) -> None:
    """Rewrite a desired file in key order (NULL last; equal keys keep their order)."""
    unsorted = path.with_name(f"{path.name}.unsorted")
    path.replace(unsorted)
    try:
        with local_duckdb(path.parent) as con:
            names = ", ".join(DESIRED_SCHEMA.names)
            reader = con.sql(
                f"SELECT {names} FROM read_parquet({sql_string(unsorted)}, file_row_number = true) "
                "ORDER BY key NULLS LAST, file_row_number"
            ).to_arrow_reader(_parquet.BATCH_ROWS)
            with BackgroundWriter(path, _KEY_ORDERED_SCHEMA) as writer:
                for batch in reader:
                    writer.write(pa.Table.from_batches([batch]))
    finally:
        unsorted.unlink(missing_ok=True)


def is_key_ordered(desired: Path) -> bool:
    """Whether a desired file says it is in key order (files written before it did are not)."""
    metadata = pq.read_schema(desired).metadata or {}
    return metadata.get(_ORDER_KEY) == _BY_KEY
