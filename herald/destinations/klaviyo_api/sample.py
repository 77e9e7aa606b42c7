"""What a Klaviyo list would receive, as JSON lines: ``herald campaign test`` writes it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa

from herald.atomic import atomic_file
from herald.core.klaviyo_fields import klaviyo_profiles


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
