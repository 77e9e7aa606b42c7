"""bench/sftp.py at a tiny size: Herald's ``klaviyo_sftp`` stage and deliver, and OpenSSH's
``sftp``, each upload a demo database's profiles to a real OpenSSH server (the bench checks
every file on the server byte for byte), and the report has its figures and verdicts."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from sftp_server import require_sshd

BENCH = Path(__file__).resolve().parents[2] / "bench" / "sftp.py"


@pytest.fixture
def sshd_available() -> None:
    """Skip without an OpenSSH server to start, except in CI (``CI=true``): a failure there."""
    require_sshd()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_sftp_bench_uploads_the_same_file_both_ways(
    sshd_available: None, demo_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "measures.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--database", str(demo_db), "--customers", "2000",
         "--rounds", "2", "--no-report", "--json", str(out)],
        capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr

    found = json.loads(out.read_text())
    assert found["rows"] == 2000
    assert [len(found[side]) for side in ("herald", "openssh")] == [2, 2]
    for herald, openssh in zip(found["herald"], found["openssh"], strict=True):
        assert herald["rows"] == 2000
        assert herald["remote_path"].startswith("/profiles/Bench_All_")
        assert openssh["size"] == herald["size"] > 2000 * 40  # the same file, every row in it
        assert 0 < herald["write_s"] < herald["total_s"]
        assert openssh["upload_s"] > 0
    assert found["api"]["imports"] == 1
    assert "Herald's upload ÷ OpenSSH's" in done.stdout
    assert "End to end (written and uploaded)" in done.stdout
    assert "The API road for the same 2,000 profiles" in done.stdout


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_sftp", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bench_stages_a_file_with_klaviyo_headers(tmp_path: Path, demo_db: Path) -> None:
    """The bench's records, staged as the destination stages them: every profile, under the
    identifier headers Klaviyo reads."""
    bench = load_bench()
    records = tmp_path / "records.parquet"
    assert bench.write_profiles(demo_db, 50, records) == 50
    from herald.destinations.csv_writer import CsvOptions
    from herald.destinations.staged_files import stage_files

    stage_files(tmp_path / "staged", bench.ParquetRecords(records), CsvOptions())
    with (tmp_path / "staged" / "records.csv").open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["Email", "PhoneNumber", "ExternalID"]
    assert len(rows) == 50
    assert all(row["ExternalID"] for row in rows)
