"""Values survive the trip through the state store: what is applied loads back and compiles."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from herald.apply import apply_path
from herald.workspace import Workspace


def test_datetime_with_offset_is_stored_and_means_utc(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "offset.yaml"
    path.write_text(
        "name: Offset\nstatus: active\nwhere:\n  - attribute: Customer_360.created_at\n"
        "    op: is\n    value: 2024-01-01 12:00:00+02:00\n",
        encoding="utf-8",
    )
    apply_path(workspace, path)
    loaded = workspace.segments.load("Offset", "active")
    sql = workspace.segments.compile(loaded, today=dt.date(2024, 3, 15)).sql("duckdb")
    assert "CAST('2024-01-01 10:00:00' AS TIMESTAMP)" in sql
    assert workspace.segments.count(loaded) == 1  # c1 was created at 10:00 UTC
