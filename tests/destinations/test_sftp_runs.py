"""A campaign run to Klaviyo's SFTP import on a real OpenSSH server: Klaviyo's headers, the
remote file recorded in the run with its size and SHA-256, the estimate beforehand, and the
throughput measured for the next estimate."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from pathlib import Path

from sandbox_workspace import daily_campaign, make_workspace
from sftp_server import OpenSshServer

from herald.destinations.ssh.files import RemoteFilesDestination
from herald.runs.estimate import estimate_campaign
from herald.runs.pipeline import run_campaign
from herald.workspace import Workspace

NAME = "Import Test"
CAMPAIGN = daily_campaign(
    NAME,
    "{name: Sent, percent: 90, destinations: [import]}",
    "{name: Held, percent: 10, control: true}",
)


def workspace(tmp_path: Path, demo_db: Path, server: OpenSshServer, **changes: object) -> Path:
    settings = server.settings(**{"folder": "/profiles", **changes})
    table = 'type = "klaviyo_sftp"\n' + "".join(
        f"{key} = {json.dumps(value)}\n" for key, value in settings.items()
    )
    return make_workspace(tmp_path, demo_db, CAMPAIGN, {"import": table})


def test_a_run_uploads_klaviyos_csv_and_records_the_file(
    tmp_path: Path, demo_db: Path, sftp_server: OpenSshServer
) -> None:
    root = workspace(tmp_path, demo_db, sftp_server)
    with Workspace.open(root) as ws:
        estimated = estimate_campaign(ws, NAME)
        result = run_campaign(ws, NAME)
    assert result.run is not None
    assert result.run.status == "delivered", result.run.error

    remote = sftp_server.path("/profiles/Import_Test_Sent.csv")
    with remote.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["Email", "PhoneNumber", "ExternalID"]
    assert all(r["Email"] or r["PhoneNumber"] or r["ExternalID"] for r in rows)
    [delivery] = result.deliveries
    assert len(rows) == delivery.records

    written = result.run.stats["files"]["import:Import_Test_Sent"]
    digest = hashlib.sha256(remote.read_bytes()).hexdigest()
    assert "/profiles/Import_Test_Sent.csv" in written
    assert f"{remote.stat().st_size:,} bytes" in written
    assert f"sha256 {digest[:12]}" in written
    [folder] = (root / ".herald" / "runs" / result.run.id / "deliveries").iterdir()
    uploaded = json.loads((folder / "uploaded.json").read_text(encoding="utf-8"))
    assert [u["sha256"] for u in uploaded.values()] == [digest]

    [planned] = estimated.lists
    assert (planned.destination, planned.adds) == ("import", len(rows))
    assert planned.seconds > 0


def test_the_estimate_uses_the_throughput_last_measured(
    tmp_path: Path, demo_db: Path, sftp_server: OpenSshServer
) -> None:
    root = workspace(tmp_path, demo_db, sftp_server, throughput=0.001, connect_seconds=0)
    with Workspace.open(root) as ws:
        slow = estimate_campaign(ws, NAME).lists[0].seconds
        destination = ws.destination("import")
        assert isinstance(destination, RemoteFilesDestination)
        destination.measured_rate(bytes_sent=50_000_000, seconds=1.0)  # 50 MB/s
        fast = estimate_campaign(ws, NAME).lists[0].seconds
    assert slow > 10 * fast > 0


def test_a_split_gzipped_group_uploads_every_part(
    tmp_path: Path, demo_db: Path, sftp_server: OpenSshServer
) -> None:
    root = workspace(tmp_path, demo_db, sftp_server, split_rows=100, gzip=True)
    with Workspace.open(root) as ws:
        result = run_campaign(ws, NAME)
    assert result.run is not None
    assert result.run.status == "delivered", result.run.error
    [delivery] = result.deliveries

    parts = sorted(sftp_server.path("/profiles").iterdir())
    assert [p.name for p in parts] == [
        f"Import_Test_Sent_{n:03d}.csv.gz" for n in range(1, len(parts) + 1)
    ]
    rows = []
    for part in parts:
        with gzip.open(part, "rt", encoding="utf-8", newline="") as file:
            rows += list(csv.DictReader(file))
    assert len(parts) == -(-delivery.records // 100)
    assert len(rows) == delivery.records
    assert result.run.stats["files"]["import:Import_Test_Sent"].count("/profiles/") == len(parts)
