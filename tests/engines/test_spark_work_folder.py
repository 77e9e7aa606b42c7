"""Spark's work folder when it is remote (a URI): Herald's files Spark must read are copied
there, each use in a folder of its own, deleted with it (no Spark needed: PyArrow's in-memory
file system stands in for the remote one)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from herald.engines.spark import _WorkFolder


def test_copies_for_a_remote_work_folder_go_under_their_folder_and_leave_with_it(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "ledger.parquet"
    pq.write_table(pa.table({"key": ["a", "b"]}), ledger)
    work = _WorkFolder("mock:///herald/work")
    assert not work.local
    [copy] = work.reachable([ledger], under="runs/r1/3-uploads")
    assert copy.startswith("mock:///herald/work/runs/r1/3-uploads/upload-"), copy
    path = copy.removeprefix("mock:///")
    with work.filesystem.open_input_file(path) as source:
        assert pq.read_table(source).equals(pq.read_table(ledger))
    work.delete("runs/r1/3-uploads")
    assert work.filesystem.get_file_info(path).type.name == "NotFound"
    work.delete("runs/r1/3-uploads")  # gone already: nothing to do


def test_a_local_work_folder_reads_herald_s_files_where_they_are(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.parquet"
    pq.write_table(pa.table({"key": ["a"]}), ledger)
    work = _WorkFolder(tmp_path / "work")
    assert work.reachable([ledger], under="runs/r1") == [ledger.resolve().as_uri()]
    assert not (tmp_path / "work" / "runs").exists()
