"""The ``csv_file`` destination: a group's whole file in a folder, each run (DESIGN §1.4).

A run stages the group's file in its delivery folder (``records.csv``, with the outcomes it
will have), then delivers it by renaming it into the destination's folder, under the run's
file name: a reader never sees half a file, and a resumed run finishes the rename or finds it
done. One-time campaigns' files carry the delivery date; recurring ones keep one name.

A file is all or nothing: a cancelled run (its stop asked before the rename) leaves the
destination's folder as it was, and the staged file in the run's folder; a file already
renamed into place when the run is cancelled is delivered to the end (its outcomes written).
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, ClassVar, cast

import pyarrow as pa
import pyarrow.parquet as pq

from herald.atomic import atomic_path, write_errors
from herald.core.campaigns.model import AttributeMapping
from herald.core.destinations import DestinationKind
from herald.core.prepare import skipped_rows
from herald.crash import crash_point
from herald.destinations.base import (
    OUTCOMES_FILE,
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
    no_connection,
)
from herald.destinations.csv_file.configuration import DESTINATION_TYPE, CsvFileSettings
from herald.engines.localdb import write_csv

_STAGED = "records.csv"
_STAGED_OUTCOMES = "staged_outcomes.parquet"
_DELIVERED = "delivered_to"  # the file the staged one became, for a resume and for people


class CsvFileDestination(Destination):
    """CSV files with exactly the group's fields as headers, in ``folder``."""

    type: ClassVar[str] = DESTINATION_TYPE
    kind: ClassVar[DestinationKind] = DestinationKind(
        DESTINATION_TYPE,
        "CSV file",
        (AttributeMapping("amperity_id", "amperity_id"), AttributeMapping("email", "email")),
    )
    capabilities: ClassVar[Capabilities] = Capabilities(mirror=False, removes=False)
    settings_model = CsvFileSettings

    @property
    def folder(self) -> Path:
        """The folder of herald.toml, relative to the workspace folder (``~`` expanded)."""
        folder = Path(cast(CsvFileSettings, self.settings).folder).expanduser()
        return self.context.root / folder

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "target": cast(CsvFileSettings, self.settings).folder}

    async def check(self) -> CheckResult:
        folder = self.folder
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        writable = existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
        if writable:
            detail = "the folder is writable" if existing == folder else "the folder can be made"
            return CheckResult(True, str(folder), detail)
        return CheckResult(
            False,
            str(folder),
            f"{existing} is not a folder Herald may write in",
            advice="set the destination's folder to one this user may write in",
        )

    def sample(self, records: Records, path: Path) -> Path:
        write_csv(records.batches(), path, records.fields)
        return path

    def stage(self, target: DeliveryTarget, records: Records) -> None:
        folder = target.folder
        if (folder / _STAGED_OUTCOMES).exists() or (folder / OUTCOMES_FILE).exists():
            return  # staged (or delivered) before a crash: the same file goes out
        with write_errors(folder):
            folder.mkdir(parents=True, exist_ok=True)
        write_csv(records.batches(), folder / _STAGED, records.fields)
        _write_outcomes(records, folder / _STAGED_OUTCOMES)

    def open(self) -> AbstractAsyncContextManager[Session]:
        return no_connection(_CsvSession(self))

    def estimate(self, targets: Sequence[DeliveryTarget]) -> DestinationEstimate | None:
        return None  # a local file: its time is part of the run's local work

    def path_for(self, target: DeliveryTarget) -> Path:
        return self.folder / f"{target.dated_name}.csv"


class _CsvSession(Session):
    def __init__(self, destination: CsvFileDestination) -> None:
        self.destination = destination

    async def deliver(
        self,
        target: DeliveryTarget,
        *,
        reconcile: bool,
        progress: Progress | None,
        stop: Stop | None = None,
    ) -> Delivered:
        path = self.destination.path_for(target)
        folder = target.folder
        if not (folder / OUTCOMES_FILE).exists():
            if (folder / _STAGED).exists() and stop is not None and stop():
                return Delivered("cancelled", message=_CANCELLED)
            _place(folder / _STAGED, path)
            crash_point("delivery_midway")
            # The outcomes say it is delivered: written last, so a crash before retries.
            os.replace(folder / _STAGED_OUTCOMES, folder / OUTCOMES_FILE)
        return Delivered("written", path=path)


_CANCELLED = "not written: the run was cancelled before the file was put in place"


def _place(staged: Path, path: Path) -> None:
    """Move the staged file to its place (a copy, then a rename, across file systems); a
    resumed delivery whose file was moved already finds it there."""
    if not staged.exists() and path.exists():
        return
    with write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(staged, path)
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            with atomic_path(path) as partial:
                shutil.copyfile(staged, partial)
            staged.unlink()


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
