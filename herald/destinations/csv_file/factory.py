"""The ``csv_file`` destination: a group's whole file in a folder, each run (DESIGN §1.4).

A run stages the group's files in its delivery folder (``records.csv``, or ``records_001.csv``
… when split, ``.csv.gz`` when compressed; written by :mod:`herald.destinations.csv_writer`),
with the list of them and the outcomes they will have, then delivers them by renaming each
into the destination's folder under the run's file name (``NAME.csv``, ``NAME_001.csv`` …): a
reader never sees half a file, and a resumed run finishes the renames or finds them done.
One-time campaigns' files carry the delivery date; recurring ones keep one name, and a file
an earlier delivery of that name left which this one does not replace (a part beyond the
last, the other compression) is removed once the new files are in place.

A delivery is all or nothing: a cancelled run (its stop asked before the first rename)
leaves the destination's folder as it was, and the staged files in the run's folder; once a
file is renamed into place, the delivery goes on to the end (its other files placed, its
outcomes written), also when the run is cancelled meanwhile.
"""

from __future__ import annotations

import errno
import itertools
import json
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
from herald.destinations.csv_writer import CsvOptions, write_csv_files

_STAGED = "records"
_STAGED_FILES = "staged_files.json"  # the staged files' names, rows, sizes and SHA-256
_STAGED_OUTCOMES = "staged_outcomes.parquet"


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

    @property
    def options(self) -> CsvOptions:
        """How its files are written."""
        return CsvOptions.of(self.settings)

    def sample(self, records: Records, path: Path) -> Path:
        # One plain file, as the destination's would look: the sample is a few records.
        plain = {"split_rows": None, "split_bytes": None, "gzip": False}
        options = self.options.model_copy(update=plain)
        stem = path.name.removesuffix(".csv")
        [file] = write_csv_files(records.batches(), path.parent, stem, _columns(records), options)
        return file.path

    def stage(self, target: DeliveryTarget, records: Records) -> None:
        folder = target.folder
        if (folder / _STAGED_OUTCOMES).exists() or (folder / OUTCOMES_FILE).exists():
            return  # staged (or delivered) before a crash: the same files go out
        with write_errors(folder):
            folder.mkdir(parents=True, exist_ok=True)
        written = write_csv_files(
            records.batches(), folder, _STAGED, _columns(records), self.options
        )
        listed = [
            {"name": f.path.name, "rows": f.rows, "size": f.size, "sha256": f.sha256}
            for f in written
        ]
        with atomic_path(folder / _STAGED_FILES) as partial:
            partial.write_text(json.dumps(listed, indent=1), encoding="utf-8")
        _write_outcomes(records, folder / _STAGED_OUTCOMES)

    def open(self) -> AbstractAsyncContextManager[Session]:
        return no_connection(_CsvSession(self))

    def estimate(self, targets: Sequence[DeliveryTarget]) -> DestinationEstimate | None:
        return None  # a local file: its time is part of the run's local work

    def path_for(self, target: DeliveryTarget, staged: str = f"{_STAGED}.csv") -> Path:
        """Where the staged file ``staged`` of ``target`` is delivered."""
        return self.folder / f"{target.dated_name}{staged.removeprefix(_STAGED)}"


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
        folder = target.folder
        staged = _staged_names(folder)
        paths = [self.destination.path_for(target, name) for name in staged]
        if not (folder / OUTCOMES_FILE).exists():
            untouched = all((folder / name).exists() for name in staged)
            if untouched and stop is not None and stop():
                return Delivered("cancelled", message=_CANCELLED)
            for name, path in zip(staged, paths, strict=True):
                _place(folder / name, path)
                crash_point("delivery_midway")
            _remove_stale(self.destination.folder, target.dated_name, keep=paths)
            # The outcomes say it is delivered: written last, so a crash before retries.
            os.replace(folder / _STAGED_OUTCOMES, folder / OUTCOMES_FILE)
        message = f"{len(paths)} files, {paths[0].name} to {paths[-1].name}"
        return Delivered("written", message=message if len(paths) > 1 else None, path=paths[0])


_CANCELLED = "not written: the run was cancelled before the file was put in place"


def _columns(records: Records) -> list[tuple[str, str]]:
    """Every field, with its name as the header."""
    return [(field, field) for field in records.fields]


def _staged_names(folder: Path) -> list[str]:
    """The staged files' names, in order (``records.csv`` alone when staged by a Herald
    that did not list them)."""
    listed = folder / _STAGED_FILES
    if not listed.exists():
        return [f"{_STAGED}.csv"]
    return [entry["name"] for entry in json.loads(listed.read_text(encoding="utf-8"))]


def _remove_stale(folder: Path, name: str, *, keep: Sequence[Path]) -> None:
    """Remove the files an earlier delivery of ``name`` left in ``folder`` that this one did
    not replace: ``NAME.csv`` and the parts ``NAME_001.csv``, ``NAME_002.csv`` … (each also
    ``.csv.gz``) not in ``keep``. Only an unbroken run of parts from ``_001`` counts, so a
    file that merely looks like a part (another group's ``NAME_017.csv``) is left alone."""
    stale = [f"{name}{suffix}" for suffix in _SUFFIXES]
    for number in itertools.count(1):
        parts = [f"{name}_{number:03d}{suffix}" for suffix in _SUFFIXES]
        if not any((folder / part).exists() for part in parts):
            break
        stale += parts
    kept = {path.name for path in keep}
    with write_errors(folder):
        for file in stale:
            if file not in kept:
                (folder / file).unlink(missing_ok=True)


_SUFFIXES = (".csv", ".csv.gz")


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
