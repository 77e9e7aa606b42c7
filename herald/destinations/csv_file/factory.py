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
import os
import shutil
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, ClassVar, cast

from herald.atomic import atomic_path, write_errors
from herald.core.campaigns.model import AttributeMapping
from herald.core.destinations import DestinationKind
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
    no_connection,
)
from herald.destinations.csv_file.configuration import DESTINATION_TYPE, CsvFileSettings
from herald.destinations.csv_writer import CsvOptions
from herald.destinations.staged_files import (
    STEM,
    is_delivered,
    mark_delivered,
    stage_files,
    staged_files,
    write_sample,
)


class CsvFileDestination(Destination):
    """CSV files with exactly the group's fields as headers, in ``folder``."""

    type: ClassVar[str] = DESTINATION_TYPE
    kind: ClassVar[DestinationKind] = DestinationKind(
        DESTINATION_TYPE,
        "CSV file",
        (AttributeMapping("amperity_id", "amperity_id"), AttributeMapping("email", "email")),
    )
    capabilities: ClassVar[Capabilities] = Capabilities(mirror=False, removes=False, local=True)
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
        return write_sample(records, path, self.options)

    def stage(self, target: DeliveryTarget, records: Records) -> None:
        stage_files(target.folder, records, self.options)

    def open(self) -> AbstractAsyncContextManager[Session]:
        return no_connection(_CsvSession(self))

    def estimate(self, targets: Sequence[DeliveryTarget]) -> DestinationEstimate | None:
        return None  # a local file: its time is part of the run's local work

    def path_for(self, target: DeliveryTarget, staged: str = f"{STEM}.csv") -> Path:
        """Where the staged file ``staged`` of ``target`` is delivered."""
        return self.folder / f"{target.dated_name}{staged.removeprefix(STEM)}"


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
        staged = [file.name for file in staged_files(folder)]
        paths = [self.destination.path_for(target, name) for name in staged]
        if not is_delivered(folder):
            untouched = all((folder / name).exists() for name in staged)
            if untouched and stop is not None and stop():
                return Delivered("cancelled", message=_CANCELLED)
            for name, path in zip(staged, paths, strict=True):
                _place(folder / name, path)
                crash_point("delivery_midway")
            _remove_stale(self.destination.folder, target.dated_name, keep=paths)
            mark_delivered(folder)
        message = f"{len(paths)} files, {paths[0].name} to {paths[-1].name}"
        return Delivered("written", message=message if len(paths) > 1 else None, path=paths[0])


_CANCELLED = "not written: the run was cancelled before the file was put in place"


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
