"""Writing prepared records to files: CSV (the file destinations) and JSON lines (samples).

A ``type = "csv_file"`` destination takes one key, ``folder`` (:class:`CsvFileSettings`).

Files are written under a temporary name and renamed when complete, so a reader (or an SFTP
poller) never sees half a file. Records come as a table or as a stream of record batches
(``PreparedGroup.batches()``), which is written as it is read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa
from sqlglot import exp

from herald.atomic import atomic_file, atomic_path
from herald.config import DestinationSettings
from herald.core.klaviyo_fields import klaviyo_profiles
from herald.engines.duckdb import connect_utc, sql_identifier


class CsvFileSettings(DestinationSettings):
    """A ``[destinations.NAME]`` table of ``type = "csv_file"``, as written in herald.toml."""

    folder: str = "exports"
    """Where the files are written, relative to the workspace folder."""


def write_csv(records: pa.Table | pa.RecordBatchReader, path: Path, columns: Sequence[str]) -> int:
    """Write ``columns`` of ``records`` as CSV with exactly those header names; return rows."""
    con = connect_utc()
    try:
        con.register("records", records)
        select = ", ".join(sql_identifier(c) for c in columns)
        with atomic_path(path) as partial:
            target = exp.Literal.string(str(partial)).sql("duckdb")
            [(rows,)] = con.execute(
                f"COPY (SELECT {select} FROM records) TO {target} (HEADER, DELIMITER ',')"
            ).fetchall()
    finally:
        con.close()
    return int(rows)


def write_klaviyo_jsonl(
    records: pa.Table | pa.RecordBatchReader | Iterable[pa.RecordBatch],
    path: Path,
    columns: Sequence[str],
) -> int:
    """Write the Klaviyo profile attributes each record becomes, one JSON object per line."""
    batches = records.to_batches() if isinstance(records, pa.Table) else records
    rows = 0
    with atomic_file(path) as out:
        for batch in batches:
            for profile in klaviyo_profiles(pa.Table.from_batches([batch]), columns):
                out.write(json.dumps(profile, ensure_ascii=False) + "\n")
            rows += batch.num_rows
    return rows
