"""The ``csv_file`` destination's CSV settings: split and gzipped deliveries place every file
(all or none), survive a kill mid-delivery, and leave no part of an earlier delivery behind."""

from __future__ import annotations

import csv
import gzip
import json
import signal
from pathlib import Path

import pytest
from expected_members import expected_emails
from sandbox_workspace import daily_campaign, herald, make_workspace

from herald.destinations.csv_file import CsvFileSettings
from herald.destinations.registry import parse_destination
from herald.exceptions import ConfigError
from herald.runs.cancel import cancel_run
from herald.runs.pipeline import run_campaign
from herald.runs.preview import sample_campaign
from herald.workspace import Workspace

NAME = "Files"
OUTPUT = "Files_Sent"
CAMPAIGN = daily_campaign(
    NAME,
    "{name: Sent, percent: 90, destinations: [dest]}",
    "{name: Held, percent: 10, control: true}",
)
SPLIT = 'type = "csv_file"\nfolder = "out"\nsplit_rows = 300\ngzip = true\n'


def workspace(tmp_path: Path, demo_db: Path, table: str = SPLIT) -> Path:
    return make_workspace(tmp_path, demo_db, CAMPAIGN, {"dest": table})


def set_table(root: Path, table: str) -> None:
    config = root / "herald.toml"
    text = config.read_text(encoding="utf-8")
    start = text.index("[destinations.dest]")
    config.write_text(text[:start] + f"[destinations.dest]\n{table}", encoding="utf-8")


def read(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def delivered(root: Path) -> list[Path]:
    out = root / "out"
    assert not list(out.glob(".*")), "a partial file was left behind"
    return sorted(out.iterdir())


def emails(paths: list[Path]) -> set[str]:
    return {row["email"].lower() for path in paths for row in read(path) if row["email"]}


def keys(paths: list[Path]) -> list[str]:
    return [row["amperity_id"] for path in paths for row in read(path)]


def test_the_csv_settings_are_keys_of_the_destination() -> None:
    table = {"type": "csv_file", "split_rows": 10, "split_bytes": 4096, "gzip": True}
    settings = parse_destination("files", {**table, "protect_formulas": False})
    assert isinstance(settings, CsvFileSettings)
    assert (settings.split_rows, settings.split_bytes, settings.gzip) == (10, 4096, True)
    assert settings.protect_formulas is False

    with pytest.raises(ConfigError, match="Did you mean split_rows"):
        parse_destination("files", {"type": "csv_file", "split_row": 10})
    with pytest.raises(ConfigError, match=r"\[destinations.files\] split_rows"):
        parse_destination("files", {"type": "csv_file", "split_rows": 0})


def test_a_split_gzipped_delivery_places_every_file(tmp_path: Path, demo_db: Path) -> None:
    root = workspace(tmp_path, demo_db)
    with Workspace.open(root) as ws:
        result = run_campaign(ws, NAME)
    assert result.run is not None
    assert result.run.status == "delivered", result.run.error
    [delivery] = result.deliveries

    files = delivered(root)
    assert len(files) >= 3
    assert [p.name for p in files] == [f"{OUTPUT}_{i:03d}.csv.gz" for i in range(1, len(files) + 1)]
    assert [len(read(p)) for p in files[:-1]] == [300] * (len(files) - 1)
    assert sum(len(read(p)) for p in files) == delivery.records
    assert len(set(keys(files))) == delivery.records  # every record once
    assert emails(files) == expected_emails(
        root, tmp_path / "customers.duckdb", result.run.id, "Sent"
    )

    # The run's folder lists what was staged, as it is on disk now.
    [staged] = (root / ".herald" / "runs" / result.run.id / "deliveries").iterdir()
    listed = json.loads((staged / "staged_files.json").read_text(encoding="utf-8"))
    assert [entry["name"] for entry in listed] == [p.name.replace(OUTPUT, "records") for p in files]
    assert [entry["size"] for entry in listed] == [p.stat().st_size for p in files]


def test_the_next_delivery_leaves_no_part_of_the_one_before(tmp_path: Path, demo_db: Path) -> None:
    root = workspace(tmp_path, demo_db)
    (root / "out").mkdir()
    other = root / "out" / f"{OUTPUT}_099.csv"  # looks like a part, is not one of Herald's
    other.write_text("kept\n")
    with Workspace.open(root) as ws:
        first = run_campaign(ws, NAME)
    assert first.run is not None
    assert first.run.status == "delivered", first.run.error
    parts = len(delivered(root)) - 1

    set_table(root, 'type = "csv_file"\nfolder = "out"\nsplit_rows = 100000\n')
    with Workspace.open(root) as ws:
        again = run_campaign(ws, NAME)
    assert again.run is not None
    assert again.run.status == "delivered", again.run.error
    assert parts > 1
    assert [p.name for p in delivered(root)] == [f"{OUTPUT}_001.csv", other.name]
    assert other.read_text() == "kept\n"

    set_table(root, 'type = "csv_file"\nfolder = "out"\n')
    with Workspace.open(root) as ws:
        plain = run_campaign(ws, NAME)
    assert plain.run is not None
    assert [p.name for p in delivered(root)] == [f"{OUTPUT}.csv", other.name]
    assert emails([root / "out" / f"{OUTPUT}.csv"]) == expected_emails(
        root, tmp_path / "customers.duckdb", plain.run.id, "Sent"
    )


@pytest.mark.slow
def test_a_kill_between_two_files_then_resume_places_them_all(
    tmp_path: Path, demo_db: Path
) -> None:
    root = workspace(tmp_path, demo_db)
    killed = herald(root, "campaign", "run", NAME, "--yes", crash_at="delivery_midway")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert [p.name for p in delivered(root)] == [f"{OUTPUT}_001.csv.gz"]  # one of several
    with Workspace.open(root) as ws:
        [run] = ws.store.list_runs(NAME)

    resumed = herald(root, "runs", "resume", run.id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    files = delivered(root)
    assert len(files) >= 3
    assert len(keys(files)) == len(set(keys(files)))
    assert emails(files) == expected_emails(root, tmp_path / "customers.duckdb", run.id, "Sent")


def test_a_run_cancelled_before_its_delivery_places_no_file(tmp_path: Path, demo_db: Path) -> None:
    root = workspace(tmp_path, demo_db)
    with Workspace.open(root) as ws:
        build = ws.campaigns.build(NAME)
        run = ws.store.start_run(NAME, build.version, as_of=build.as_of, pins=build.pins)
        done = cancel_run(ws, run.id)
    assert done.run.status == "cancelled"
    assert not (root / "out").exists() or not any((root / "out").iterdir())
    staged = list((root / ".herald" / "runs" / run.id / "deliveries").glob("*/records_*.csv.gz"))
    assert len(staged) >= 3  # all kept in the run's folder


def test_a_sample_is_one_plain_file_whatever_the_split(tmp_path: Path, demo_db: Path) -> None:
    root = workspace(tmp_path, demo_db)
    with Workspace.open(root) as ws:
        result = sample_campaign(ws, NAME, 5, tmp_path / "sample")
    [delivery] = result.deliveries
    assert delivery.path is not None
    assert delivery.path.name.endswith(".csv")
    assert 0 < len(read(delivery.path)) <= 5
