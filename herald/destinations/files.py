"""Writing prepared records to files: CSV (the file destinations) and JSON lines (samples).

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

from herald.core.klaviyo_fields import klaviyo_profiles
from herald.engines.duckdb import connect_utc


def _quoted(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def write_csv(records: pa.Table | pa.RecordBatchReader, path: Path, columns: Sequence[str]) -> int:
    """Write ``columns`` of ``records`` as CSV with exactly those header names; return rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    con = connect_utc()
    try:
        con.register("records", records)
        select = ", ".join(_quoted(c) for c in columns)
        target = exp.Literal.string(str(partial)).sql("duckdb")
        [(rows,)] = con.execute(
            f"COPY (SELECT {select} FROM records) TO {target} (HEADER, DELIMITER ',')"
        ).fetchall()
    finally:
        con.close()
    partial.replace(path)
    return int(rows)


def write_klaviyo_jsonl(
    records: pa.Table | pa.RecordBatchReader | Iterable[pa.RecordBatch],
    path: Path,
    columns: Sequence[str],
) -> int:
    """Write the Klaviyo profile attributes each record becomes, one JSON object per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    batches = records.to_batches() if isinstance(records, pa.Table) else records
    rows = 0
    with partial.open("w", encoding="utf-8") as out:
        for batch in batches:
            for profile in klaviyo_profiles(pa.Table.from_batches([batch]), columns):
                out.write(json.dumps(profile, ensure_ascii=False) + "\n")
            rows += batch.num_rows
    partial.replace(path)
    return rows
