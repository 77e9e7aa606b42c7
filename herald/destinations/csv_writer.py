"""The one CSV writer of the file destinations (``csv_file``, the SFTP types): record batches
in, whole files out, never the whole file in memory.

What a file holds:

- **UTF-8** without a byte-order mark; lines end with ``\\n``.
- **A header row** with exactly the names given, in order; a name is quoted only when it
  holds a comma, a quote or a line break. Every file of a split delivery starts with it, and
  a group with no records still gets one file holding the header alone.
- **RFC 4180 quoting**: text is always quoted (``"a, b"``, a quote doubled: ``"a ""b"" c"``, a
  line break kept inside the quotes), numbers and booleans never. An empty text is ``""``; a missing
  value (null) is an empty field.
- **Values as DuckDB writes them**: integers, decimals (``1.50``) and ``true``/``false`` as
  they are; floating point numbers at their shortest exact form (``2``, ``0.1``, ``1e-7``);
  dates ``2026-06-30``; timestamps ``2026-06-30 14:05:09`` with the fraction of a second
  only when there is one (``…:09.25``), and, when they carry a time zone, in UTC followed by
  ``+00``; times ``14:05:09``. Timestamps and times are written as text (quoted). A column
  of lists or structs is refused: a field holds one value.
- **Formula-injection protection** (``protect_formulas``, on by default): a spreadsheet
  opening the file runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula,
  and a leading tab or carriage return can hide such a start. So a *text* value starting
  with one of these six characters gets a leading apostrophe (``=HYPERLINK(…)`` →
  ``'=HYPERLINK(…)``, ``-cmd`` → ``'-cmd``), which spreadsheets show and do not run. One
  exception: text starting with ``+`` or ``-`` made only of digits, spaces and ``. ( ) + -``
  is a number or a phone number (``+15005550006``, ``+1 (500) 555-0006``, ``-12.5``); a
  spreadsheet can only compute such a value, never call a function or reach another cell or
  program with it, and an apostrophe would break it (Klaviyo takes phone numbers in E.164).
  Numbers, dates and booleans are never changed (``-5`` in an integer column stays
  ``-5``), nor are header names.

Splitting (``split_rows``, ``split_bytes``): a file takes at most ``split_rows`` data rows
and at most ``split_bytes`` bytes (uncompressed, header included); the next row that would
pass a limit starts the next file, so every row is in exactly one file, in order. A single
row longer than ``split_bytes`` gets a file of its own. With either set, the files are named
``STEM_001.csv``, ``STEM_002.csv``, … (even when one is enough, so a consumer always sees
the same names); otherwise the one file is ``STEM.csv``. ``gzip`` compresses each file
(``.csv.gz``; split limits still count the uncompressed bytes).

Each file is written under a temporary name in ``folder`` and renamed once complete
(:mod:`herald.atomic`): a reader never sees half a file. The records are read one batch at
a time, and each batch is encoded in slices of a few thousand rows by PyArrow's CSV writer,
so memory stays bounded whatever the group's size.

Example:
    >>> import tempfile, pathlib
    >>> import pyarrow as pa
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> table = pa.table({"e": ["a@example.com", "=cmd"], "n": [1, -2]})
    >>> [f] = write_csv_files(table, folder, "out", [("e", "Email"), ("n", "N")], CsvOptions())
    >>> print(f.path.read_text(), end="")
    Email,N
    "a@example.com",1
    "'=cmd",-2
    >>> f.rows, f.size
    (2, 37)
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from pydantic import BaseModel, ConfigDict, Field

from herald.atomic import atomic_path
from herald.exceptions import FatalSyncError

SLICE_ROWS = 16_384
"""Rows encoded at once: a record batch (or a table of one chunk) is cut into slices of at
most this many rows, so the CSV text held in memory stays a few MB."""

_NUMBER_OR_PHONE = r"^[+-][0-9 ().+-]*[0-9][0-9 ().+-]*$"
_FORMULA_STARTS = pa.array([c.encode() for c in "=+-@\t\r"], pa.binary())
_NEEDS_QUOTES = frozenset(',"\r\n')
_ENCODING = pacsv.WriteOptions(include_header=False, quoting_style="needed", batch_size=4096)


class CsvOptions(BaseModel):
    """How a destination's CSV files are written (the keys a file destination's
    ``[destinations.NAME]`` table takes besides its own)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protect_formulas: bool = True
    """Prefix ``'`` to text that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return, so a spreadsheet does not run it as a formula (not to a number or phone number
    written as text, such as ``+15005550006``)."""
    split_rows: int | None = Field(default=None, ge=1)
    """At most this many data rows per file (None: no limit)."""
    split_bytes: int | None = Field(default=None, ge=1024)
    """At most about this many bytes per file, uncompressed, header included (None: no
    limit); only a single row longer than this passes it, alone in its file."""
    gzip: bool = False
    """Compress each file with gzip (``.csv.gz``)."""

    @property
    def splits(self) -> bool:
        """Whether files are numbered (``STEM_001.csv`` …): a split limit is set."""
        return self.split_rows is not None or self.split_bytes is not None

    @property
    def suffix(self) -> str:
        """``.csv``, or ``.csv.gz`` when compressed."""
        return ".csv.gz" if self.gzip else ".csv"

    @classmethod
    def of(cls, settings: BaseModel) -> CsvOptions:
        """The options held in a destination's settings that embed these fields."""
        return cls.model_validate(settings.model_dump(include=set(cls.model_fields)))


@dataclass(frozen=True)
class WrittenFile:
    """One complete file, as it is on disk.

    Attributes:
        path: where it is (its final name).
        rows: data rows in it (the header not counted).
        size: its size in bytes (compressed when gzipped).
        sha256: the SHA-256 of its bytes, in hex.
    """

    path: Path
    rows: int
    size: int
    sha256: str


def write_csv_files(
    records: pa.RecordBatchReader | pa.Table,
    folder: Path,
    stem: str,
    columns: Sequence[tuple[str, str]],
    options: CsvOptions,
) -> list[WrittenFile]:
    """Write ``records`` as CSV files in ``folder`` (see the module's description).

    Args:
        records: the rows, read once, a batch at a time.
        folder: where the files go (created when missing).
        stem: the files' name without suffix or number.
        columns: (column of ``records``, header name) for each field, in order.
        options: quoting protection, split limits, compression.

    Returns:
        The files written, in order.

    Raises:
        FatalSyncError: a column holds lists, structs or maps.
        WriteError: the folder or a file cannot be written (full disk, no permission).
        KeyError: a column is not in ``records``.
    """
    _check_columns(records.schema, [source for source, _ in columns])
    header = _header_line([name for _, name in columns])
    batches = _Pushback(
        _prepared(batch, columns, options.protect_formulas) for batch in _slices(records)
    )
    written: list[WrittenFile] = []
    while not written or batches.has_more():
        number = f"_{len(written) + 1:03d}" if options.splits else ""
        path = folder / f"{stem}{number}{options.suffix}"
        with atomic_path(path) as partial, partial.open("wb") as raw:
            disk = _HashingFile(raw)
            out = _CsvFile(disk, options, header)
            out.fill(batches)
            out.close()
        written.append(WrittenFile(path, out.rows, disk.size, disk.sha256.hexdigest()))
    return written


def _check_columns(schema: pa.Schema, sources: Sequence[str]) -> None:
    for source in sources:
        kind = schema.field(source).type  # KeyError when there is no such column
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_nested(kind):
            msg = (
                f"the CSV column {source!r} holds {kind}: a CSV field holds one value; "
                "map an attribute of text, numbers or dates instead"
            )
            raise FatalSyncError(msg)


def _slices(records: pa.RecordBatchReader | pa.Table) -> Iterator[pa.RecordBatch]:
    batches = records.to_batches() if isinstance(records, pa.Table) else records
    for batch in batches:
        for start in range(0, batch.num_rows, SLICE_ROWS):
            yield batch.slice(start, SLICE_ROWS)


def _header_line(names: Sequence[str]) -> bytes:
    quoted = [
        f'"{name.replace(chr(34), chr(34) * 2)}"' if _NEEDS_QUOTES & set(name) else name
        for name in names
    ]
    return (",".join(quoted) + "\n").encode("utf-8")


def _prepared(
    batch: pa.RecordBatch, columns: Sequence[tuple[str, str]], protect: bool
) -> pa.RecordBatch:
    """The batch's columns for the file, in order, each as it is to be written."""
    arrays = [_cell_values(batch.column(source), protect) for source, _ in columns]
    return pa.RecordBatch.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])


def _cell_values(array: pa.Array, protect: bool) -> pa.Array:
    kind = array.type
    if pa.types.is_dictionary(kind):
        return _cell_values(array.dictionary_decode(), protect)
    if pa.types.is_string_view(kind):
        return _cell_values(array.cast(pa.string()), protect)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _protected(array) if protect else array
    if pa.types.is_timestamp(kind):
        return _timestamp_text(array)
    if pa.types.is_time(kind):
        return _without_zero_fraction(array.cast(pa.string()), kind.unit)
    return array


def _protected(text: pa.Array) -> pa.Array:
    """Text that a spreadsheet would run as a formula, prefixed with ``'``."""
    # The six characters are one byte each in UTF-8, and no other character's first byte is
    # one of them: comparing first bytes is exact, and cheaper than a regular expression.
    raw = text.cast(pa.large_binary() if pa.types.is_large_string(text.type) else pa.binary())
    first = pc.binary_slice(raw, 0, 1)
    risky = pc.is_in(first, value_set=_FORMULA_STARTS.cast(first.type))
    if not pc.any(risky).as_py():
        return text  # the usual case: no copy
    risky = pc.and_not(risky, pc.match_substring_regex(text, _NUMBER_OR_PHONE))
    prefixed = pc.binary_join_element_wise(
        pa.scalar("'", text.type), text, pa.scalar("", text.type)
    )
    return pc.if_else(risky, prefixed, text)


def _timestamp_text(array: pa.Array) -> pa.Array:
    """``YYYY-MM-DD HH:MM:SS[.fraction]``, in UTC with ``+00`` when the type has a zone."""
    kind = array.type
    # Dropping the zone keeps the stored instant, which is UTC.
    text = _without_zero_fraction(array.cast(pa.timestamp(kind.unit)).cast(pa.string()), kind.unit)
    if kind.tz is None:
        return text
    return pc.binary_join_element_wise(text, pa.scalar("+00"), "")


def _without_zero_fraction(text: pa.Array, unit: str) -> pa.Array:
    # Arrow writes every digit of the unit (".120000"); DuckDB only the significant ones.
    if unit == "s":
        return text
    return pc.replace_substring_regex(text, r"\.?0+$", "")


def _encoded(batch: pa.RecordBatch) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(batch, sink, _ENCODING)
    return sink.getvalue()


class _Pushback:
    """An iterator of record batches that takes back the part of one a file had no room for."""

    def __init__(self, batches: Iterator[pa.RecordBatch]) -> None:
        self._batches = batches
        self._back: list[pa.RecordBatch] = []

    def __iter__(self) -> _Pushback:
        return self

    def __next__(self) -> pa.RecordBatch:
        return self._back.pop() if self._back else next(self._batches)

    def push(self, batch: pa.RecordBatch) -> None:
        self._back.append(batch)

    def has_more(self) -> bool:
        for batch in self:
            self.push(batch)
            return True
        return False


class _CsvFile:
    """One file's content: the header, then as many rows as its limits allow."""

    def __init__(self, disk: _HashingFile, options: CsvOptions, header: bytes) -> None:
        self._out: Any = disk
        if options.gzip:
            # zlib's level 6 rather than PyArrow's gzip stream, whose level is fixed at 9: as
            # small within 4 %, three times faster. No time stamp: the same rows give the same
            # bytes (and SHA-256) whenever they are written.
            self._out = gzip.GzipFile(fileobj=disk, mode="wb", compresslevel=6, mtime=0)
        self._row_limit, self._byte_limit = options.split_rows, options.split_bytes
        self.rows = self._bytes = 0
        self._write(0, header)

    def fill(self, batches: _Pushback) -> None:
        """Write batches until they end or the next row would pass a limit (that row and
        those after it are pushed back for the next file)."""
        for batch in batches:
            written = self._write_rows(batch)
            if written < batch.num_rows:
                batches.push(batch.slice(written))
                return

    def close(self) -> None:
        self._out.close()  # the gzip stream's end; the file itself is closed by its owner

    def _write_rows(self, batch: pa.RecordBatch) -> int:
        """Write the first rows of ``batch`` that fit; how many."""
        take = min(int(batch.num_rows), self._rows_left())
        if take == 0:
            return 0
        data = _encoded(batch.slice(0, take))
        while len(data) > self._bytes_left() and take > 1:
            # Proportionally fewer rows, and strictly fewer, so this ends.
            take = max(1, min(take - 1, take * max(self._bytes_left(), 0) // len(data)))
            data = _encoded(batch.slice(0, take))
        if len(data) > self._bytes_left() and self.rows:
            return 0  # not one more row fits
        self._write(take, data)  # (a single row longer than the limit goes in alone)
        return take

    def _rows_left(self) -> int:
        return self._row_limit - self.rows if self._row_limit is not None else 2**62

    def _bytes_left(self) -> int:
        return self._byte_limit - self._bytes if self._byte_limit is not None else 2**62

    def _write(self, rows: int, data: pa.Buffer | bytes) -> None:
        self._out.write(data)
        self.rows += rows
        self._bytes += len(data)


class _HashingFile:
    """A binary file that counts and hashes what it writes: the size and SHA-256 of the file
    on disk, without reading it back. The gzip stream writes through it too."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.sha256.update(view)
        self._raw.write(view)
        self.size += view.nbytes
        return view.nbytes

    def flush(self) -> None:
        self._raw.flush()

    def close(self) -> None:
        # The file itself is closed by its ``with``; closing here would hide a late error.
        self.closed = True

    def writable(self) -> bool:
        return True
