"""What the destinations that upload files over SFTP share (the ``sftp`` type, and
``klaviyo_sftp`` with Klaviyo's layout and header rules): a group's whole file uploaded to a
folder of an SFTP server, each run.

A run stages the group's CSV files in its delivery folder (:mod:`herald.destinations.
staged_files`), then uploads each (:func:`herald.destinations.ssh.transport.upload`: under a
temporary name, size-checked, renamed when complete) and records every remote file with its
size and SHA-256 in the delivery folder (``uploaded.json``) and in the run. A resumed run skips
the files already uploaded and finishes the others. A cancelled run stops only before its
first file: once one is in place, the others follow, so a reader never finds half a group.

The time an upload took is kept per destination (``.herald/destinations/NAME.json``), so an
estimate uses the throughput measured last rather than the configured one.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar, cast

from herald.atomic import atomic_path
from herald.core.estimate import Estimate
from herald.crash import crash_point
from herald.destinations.base import (
    Capabilities,
    CheckResult,
    Delivered,
    DeliveryTarget,
    Destination,
    DestinationEstimate,
    Progress,
    Records,
    Session,
    Stop,
    SyncEvent,
    TargetEstimate,
)
from herald.destinations.csv_writer import CsvOptions
from herald.destinations.ssh.keys import load_private_key
from herald.destinations.ssh.settings import RemoteFilesSettings
from herald.destinations.ssh.transport import SftpConnection, Uploaded, connect, probe, upload
from herald.destinations.staged_files import (
    STEM,
    StagedFile,
    is_delivered,
    mark_delivered,
    stage_files,
    staged_files,
    write_sample,
)
from herald.exceptions import SftpError

_UPLOADED = "uploaded.json"
MB = 1_000_000
ROW_BYTES = 80
"""A typical CSV row of a group (identifiers and a few attributes), for times planned before
the files are written."""


class RemoteFilesDestination(Destination):
    """CSV files with exactly the group's fields as headers, uploaded to ``folder`` on an SFTP
    server. A type sets ``type``, ``kind`` and ``settings_model`` (a
    :class:`RemoteFilesSettings`)."""

    capabilities: ClassVar[Capabilities] = Capabilities(mirror=False, removes=False)

    @property
    def remote(self) -> RemoteFilesSettings:
        """Its settings, with the key and known_hosts files found from the workspace."""
        return cast(RemoteFilesSettings, self.settings).resolved(self.context.root)

    @property
    def options(self) -> CsvOptions:
        return CsvOptions.of(self.settings)

    def describe(self) -> dict[str, Any]:
        settings = self.remote
        key_from = settings.private_key_env or settings.private_key_file
        target = f"SFTP {settings.address}{settings.folder}"
        return {**super().describe(), "target": target, "key_from": key_from}

    async def check(self) -> CheckResult:
        settings = self.remote
        target = f"{settings.address}{settings.folder}"
        try:
            host_key = await asyncio.to_thread(_probe, settings)
        except SftpError as error:  # one line that says what to do, too
            return CheckResult(False, target, str(error), data={"reason": error.reason})
        detail = f"host key {host_key} verified; {settings.folder} is writable"
        return CheckResult(True, target, detail, data={"host_key": host_key})

    def sample(self, records: Records, path: Path) -> Path:
        return write_sample(records, path, self.options)

    def stage(self, target: DeliveryTarget, records: Records) -> None:
        stage_files(target.folder, records, self.options)

    def open(self) -> AbstractAsyncContextManager[Session]:
        load_private_key(self.remote)  # a key that is not set: ConfigError, at once
        return _opened(self)

    def estimate(self, targets: Sequence[DeliveryTarget]) -> DestinationEstimate:
        staged = [staged_files(target.folder) for target in targets]
        each = [
            _target_estimate(target, files, self._seconds)
            for target, files in zip(targets, staged, strict=True)
        ]
        size = sum(f.size for files in staged for f in files)
        calls = {"upload_file": sum(len(files) for files in staged)}
        return DestinationEstimate(each, Estimate(calls, {"adds": self._seconds(size)}, 0))

    def planned_seconds(self, counts: Mapping[str, int]) -> float:
        # Before the files exist: a typical row's size (the slow alert and previews use it).
        return self._seconds(counts.get("adds", 0) * ROW_BYTES)

    def _seconds(self, size: int) -> float:
        """Connecting, then ``size`` bytes at the expected throughput."""
        return self.remote.connect_seconds + size / (self.throughput() * MB)

    def throughput(self) -> float:
        """MB/s an upload here is expected to reach: the last one measured, else the
        configured ``throughput``."""
        measured = _read_json(self._measures)
        return float(measured.get("throughput_mb_s") or self.remote.throughput)

    def remote_name(self, target: DeliveryTarget, staged: str) -> str:
        """The name on the server of the staged file ``staged`` of ``target``."""
        template = self.remote.file_name
        fields = {
            "campaign": target.campaign,
            "group": target.group,
            "sub_audience": target.sub_audience,
            "date": target.day,
            "run": target.run_id,
        }
        name = "_".join(template.format(**fields).split())
        if not target.recurring and "{date}" not in template:
            name = f"{name}_{target.day}"
        return f"{name}{staged.removeprefix(STEM)}"

    def measured_rate(self, *, bytes_sent: int, seconds: float) -> None:
        """Keep the throughput of a delivery's uploads, for the next estimates (a delivery
        under 1 MB says too little about the link, and is not kept)."""
        if seconds <= 0 or bytes_sent < MB:
            return
        self._measures.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self._measures) as partial:
            partial.write_text(json.dumps({"throughput_mb_s": bytes_sent / MB / seconds}))

    @property
    def _measures(self) -> Path:
        return self.context.state_dir / "destinations" / f"{self.name}.json"


def _probe(settings: RemoteFilesSettings) -> str:
    with connect(settings) as conn:
        probe(conn, settings.folder)
        return conn.host_key


def _target_estimate(
    target: DeliveryTarget, files: list[StagedFile], seconds: Callable[[int], float]
) -> TargetEstimate:
    rows = sum(f.rows for f in files)
    return TargetEstimate(
        target, rows, 0, 0, rows, known=False, seconds=seconds(sum(f.size for f in files))
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


@asynccontextmanager
async def _opened(destination: RemoteFilesDestination) -> AsyncIterator[Session]:
    session = _SftpSession(destination)
    try:
        yield session
    finally:
        await asyncio.to_thread(session.close)


class _SftpSession(Session):
    """One connection for a run's groups, opened at the first upload."""

    def __init__(self, destination: RemoteFilesDestination) -> None:
        self.destination = destination
        self.settings = destination.remote
        self._conn: SftpConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    async def deliver(
        self,
        target: DeliveryTarget,
        *,
        reconcile: bool,
        progress: Progress | None,
        stop: Stop | None = None,
    ) -> Delivered:
        folder = target.folder
        files = staged_files(folder)
        done = _read_json(folder / _UPLOADED)
        if not is_delivered(folder):
            if not done and stop is not None and stop():
                return Delivered("cancelled", message=_CANCELLED)
            events = _Events(progress, target, files)
            try:
                done = await self._upload_all(target, files, done, events)
            except SftpError as error:
                events.send("failed", error=str(error))
                return Delivered("failed", message=str(error))
            mark_delivered(folder)
            events.send("done", counts=events.counts)
        return _delivered(files, done, self.settings)

    async def _upload_all(
        self,
        target: DeliveryTarget,
        files: list[StagedFile],
        done: dict[str, Any],
        events: _Events,
    ) -> dict[str, Any]:
        events.send("started")
        events.send("planned", counts=events.counts)
        started, uploaded = time.monotonic(), []
        for seq, file in enumerate(files, 1):
            if file.name not in done:
                name = self.destination.remote_name(target, file.name)
                result = await asyncio.to_thread(self._upload, target.folder / file.name, name)
                uploaded.append(result)
                done[file.name] = _record(result)
                _write_uploaded(target.folder, done)
                crash_point("delivery_midway")
            events.file_sent(seq, file)
        sent = sum(u.size for u in uploaded)
        self.destination.measured_rate(bytes_sent=sent, seconds=time.monotonic() - started)
        return done

    def _upload(self, local: Path, name: str) -> Uploaded:
        if self._conn is None:
            self._conn = connect(self.settings)
        return upload(self._conn, local, self.settings.folder, name)


_CANCELLED = "not uploaded: the run was cancelled before the first file was sent"


class _Events:
    """The progress events of one delivery: a file counts as a batch of its rows."""

    def __init__(self, progress: Progress | None, target: DeliveryTarget, files: list[StagedFile]):
        self.progress = progress
        self.target = target
        self.counts = {"adds": sum(f.rows for f in files), "files": len(files)}

    def send(self, kind: Any, **fields: Any) -> None:
        if self.progress is not None:
            event = SyncEvent(kind, self.target.destination, self.target.output_name, **fields)
            self.progress(event)

    def file_sent(self, seq: int, file: StagedFile) -> None:
        batch = {"seq": seq, "kind": "upload", "rows": file.rows}
        self.send("batch_sent", batch=batch)
        self.send("batch_confirmed", batch=batch)


def _record(result: Uploaded) -> dict[str, Any]:
    return {"remote_path": result.remote_path, "size": result.size, "sha256": result.sha256}


def _write_uploaded(folder: Path, done: dict[str, Any]) -> None:
    with atomic_path(folder / _UPLOADED) as partial:
        partial.write_text(json.dumps(done, indent=1), encoding="utf-8")


def _delivered(
    files: list[StagedFile], done: dict[str, Any], settings: RemoteFilesSettings
) -> Delivered:
    """What the run records: every remote file with its size and SHA-256."""
    remote = [done[f.name] for f in files if f.name in done]
    shown = "; ".join(
        f"{r['remote_path']} ({r['size']:,} bytes, sha256 {r['sha256'][:12]}…)" for r in remote
    )
    counts = {"files": len(remote), "bytes": sum(r["size"] for r in remote)}
    counts["rows"] = sum(f.rows for f in files)
    return Delivered("written", message=f"uploaded to {settings.address}: {shown}", counts=counts)
