"""A group's records staged as CSV files in its delivery folder, for the destinations that
deliver whole files (a folder, an SFTP server).

Staging writes the files (:mod:`herald.destinations.csv_writer`), then the list of them
(``staged_files.json``: name, rows, size, SHA-256 of each), then the outcomes the delivery
will have (every record ``sent``, every customer left out ``skipped_invalid``). Once staged
they are kept: a resumed run delivers exactly the files the interrupted one wrote. A
delivery ends with :func:`mark_delivered`, which makes those outcomes the delivery's.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from herald.atomic import atomic_path, write_errors
from herald.core.prepare import skipped_rows
from herald.destinations.base import OUTCOMES_FILE, Records
from herald.destinations.csv_writer import CsvOptions, write_csv_files

STEM = "records"
"""The staged files' names: ``records.csv``, or ``records_001.csv`` … when split."""
_LISTED = "staged_files.json"
_STAGED_OUTCOMES = "staged_outcomes.parquet"


@dataclass(frozen=True)
class StagedFile:
    """One staged file: its name in the delivery folder, its data rows, size and SHA-256."""

    name: str
    rows: int
    size: int
    sha256: str


def stage_files(folder: Path, records: Records, options: CsvOptions) -> None:
    """Write a group's records as CSV files, with every field's name as its header, into
    ``folder``; nothing when they were staged (or delivered) before."""
    if is_staged(folder):
        return  # staged (or delivered) before a crash: the same files go out
    with write_errors(folder):
        folder.mkdir(parents=True, exist_ok=True)
    columns = [(field, field) for field in records.fields]
    written = write_csv_files(records.batches(), folder, STEM, columns, options)
    listed = [
        {"name": f.path.name, "rows": f.rows, "size": f.size, "sha256": f.sha256} for f in written
    ]
    with atomic_path(folder / _LISTED) as partial:
        partial.write_text(json.dumps(listed, indent=1), encoding="utf-8")
    _write_outcomes(records, folder / _STAGED_OUTCOMES)


def write_sample(records: Records, path: Path, options: CsvOptions) -> Path:
    """What a destination's files would hold, as one plain CSV file at ``path`` (a sample is
    a few records: never split or compressed); returns it."""
    plain = options.model_copy(update={"split_rows": None, "split_bytes": None, "gzip": False})
    columns = [(field, field) for field in records.fields]
    stem = path.name.removesuffix(".csv")
    [file] = write_csv_files(records.batches(), path.parent, stem, columns, plain)
    return file.path


def is_staged(folder: Path) -> bool:
    return (folder / _STAGED_OUTCOMES).exists() or is_delivered(folder)


def is_delivered(folder: Path) -> bool:
    return (folder / OUTCOMES_FILE).exists()


def staged_files(folder: Path) -> list[StagedFile]:
    """The staged files, in order (``records.csv`` alone, its figures unknown, when staged by
    a Herald that did not list them)."""
    listed = folder / _LISTED
    if not listed.exists():
        return [StagedFile(f"{STEM}.csv", 0, 0, "")]
    return [StagedFile(**entry) for entry in json.loads(listed.read_text(encoding="utf-8"))]


def mark_delivered(folder: Path) -> None:
    """The staged outcomes become the delivery's: done last, so a crash before retries."""
    os.replace(folder / _STAGED_OUTCOMES, folder / OUTCOMES_FILE)


def _write_outcomes(records: Records, target: Path) -> None:
    """Every record ``sent`` (the file holds it), every skipped customer with its reason."""
    sent = [_outcomes(batch.column("key"), "sent") for batch in records.sent_keys()]
    skipped = skipped_rows(records.dropped, records.key)
    left_out = _outcomes(skipped.column("key"), "skipped_invalid", skipped.column("reason"))
    with atomic_path(target) as partial:
        pq.write_table(pa.concat_tables([*sent, left_out]), partial)


def _outcomes(
    keys: pa.Array | pa.ChunkedArray, outcome: str, reasons: pa.ChunkedArray | None = None
) -> pa.Table:
    n = len(keys)
    return pa.table(
        {
            "key": keys,
            "outcome": pa.repeat(outcome, n).cast(pa.string()),
            "reason": pa.nulls(n, pa.string()) if reasons is None else reasons,
        },
        schema=_OUTCOMES_SCHEMA,
    )


_OUTCOMES_SCHEMA = pa.schema(
    [("key", pa.string()), ("outcome", pa.string()), ("reason", pa.string())]
)
