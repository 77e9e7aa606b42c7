"""Prune run files that hold emails and phones once their retention has passed (DESIGN §1.4).

A run folder, ``.herald/runs/<run id>/``, holds the recipients snapshot (``recipients.parquet``:
PII columns), and per Klaviyo list the prepared and diff files (``desired``, ``adds``,
``updates``, ``removes``: emails and phones). Those are pruned once the run has been finished
for longer than ``[runs] retention_days``. What is kept, because it holds customer keys only
and is needed later: the recipients log (results against the control group), the per-profile
outcomes and skips, and the lock file. The list ledgers under ``.herald/lists/`` are never
pruned here: every list sync diffs against them.

A run is never pruned while it may still be carried on: a ``running`` run (live, or
interrupted and waiting for ``herald runs resume``), the newest run of a campaign when it ended
in ``error`` (it may be retried from its inputs), or a run whose lock another process holds.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from herald.destinations.base import OUTCOMES_FILE, SKIPPED_FILE
from herald.exceptions import ConfigError, StateError
from herald.runs.resume import is_alive, run_lock

if TYPE_CHECKING:
    from herald.state import Run
    from herald.workspace import Workspace

KEPT_FILES = frozenset({"recipients_log.parquet", OUTCOMES_FILE, SKIPPED_FILE, "lock"})
"""Files of a run folder that hold no email or phone (customer keys only) and stay."""

SCRATCH_FOLDERS = ("runs/_preview", "tests")
"""Folders under ``.herald`` whose files (previews left by a crash, `campaign test` samples)
hold PII and belong to no run: pruned by their age."""

_AGE = re.compile(r"^\s*(\d+)\s*([dhw]?)\s*$")
_UNITS = {"": "days", "d": "days", "h": "hours", "w": "weeks"}


@dataclass(frozen=True)
class PrunedRun:
    """What pruning removed (or would remove) from one run's folder."""

    run_id: str
    campaign: str
    finished_at: dt.datetime
    files: int
    bytes: int


@dataclass
class PruneReport:
    """What ``prune_runs`` removed, or with ``dry_run`` would remove.

    Attributes:
        cutoff: runs finished before this time were due.
        runs: the runs whose files were removed.
        scratch_files: files of no run (old previews, test samples) removed.
        scratch_bytes: their size.
        kept: due runs that were kept, with why.
        failures: files that could not be removed, with the reason.
        dry_run: nothing was removed.
    """

    cutoff: dt.datetime
    runs: list[PrunedRun] = field(default_factory=list)
    scratch_files: int = 0
    scratch_bytes: int = 0
    kept: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)
    dry_run: bool = False

    @property
    def files(self) -> int:
        return sum(r.files for r in self.runs) + self.scratch_files

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.runs) + self.scratch_bytes


def parse_age(text: str) -> dt.timedelta:
    """An age such as ``30d``, ``36h``, ``2w`` or ``30`` (days).

    Raises:
        ConfigError: for anything else.
    """
    match = _AGE.match(text)
    if match is None:
        msg = f"'{text}' is not an age: write a number of days such as 30d (or 36h, 2w)"
        raise ConfigError(msg)
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def prune_runs(
    ws: Workspace,
    *,
    older_than: dt.timedelta | None = None,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> PruneReport:
    """Remove the PII files of runs finished longer ago than the retention.

    Args:
        ws: the workspace.
        older_than: the retention; default ``[runs] retention_days``.
        dry_run: only report what would be removed.
        now: the current time (UTC); for tests.

    Returns:
        What was removed (or would be), what was kept and why.
    """
    if older_than is None:
        older_than = dt.timedelta(days=ws.settings.runs.retention_days)
    cutoff = (now or dt.datetime.now(dt.UTC)) - older_than
    report = PruneReport(cutoff=cutoff, dry_run=dry_run)
    root = ws.runs_dir
    runs = {r.id: r for r in ws.store.list_runs()} if root.is_dir() else {}
    newest = _newest_per_campaign(runs.values())
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        run = runs.get(folder.name)
        # A folder of no known run is not Herald's to judge (another state database's run).
        if run is None or not folder.is_dir():
            continue
        if (run.finished_at or run.started_at) >= cutoff:
            continue
        why = _why_kept(ws, run, newest)
        if why is not None:
            report.kept.append((run.id, why))
            continue
        pruned = _prune_run(ws, run, folder, report)
        if pruned is not None and pruned.files:
            report.runs.append(pruned)
    for name in SCRATCH_FOLDERS:
        _prune_scratch(ws.state_dir / name, report)
    return report


def _newest_per_campaign(runs: Iterable[Run]) -> dict[str, str]:
    ordered = sorted((r for r in runs if r.kind == "run"), key=lambda r: r.started_at)
    return {run.campaign: run.id for run in ordered}  # the newest is written last


def _why_kept(ws: Workspace, run: Run, newest: dict[str, str]) -> str | None:
    """Why a due run must keep its files, or None when they may go."""
    if run.status == "running":
        if is_alive(ws, run.id):
            return "running"
        return "interrupted: `herald runs resume` needs its files"
    if run.status == "error" and newest.get(run.campaign) == run.id:
        return f"the newest run of '{run.campaign}' ended in error and may be retried"
    return None


def _prune_run(ws: Workspace, run: Run, folder: Path, report: PruneReport) -> PrunedRun | None:
    due = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in KEPT_FILES]
    size = sum(_size(p) for p in due)
    if report.dry_run:
        return PrunedRun(run.id, run.campaign, run.finished_at or run.started_at, len(due), size)
    try:
        # Holding the run's lock: no process can start working on the run meanwhile.
        with run_lock(ws, run.id):
            removed, size = _remove(due, report)
            _remove_empty_folders(folder)
    except StateError:
        report.kept.append((run.id, "another process is working on it"))
        return None
    return PrunedRun(run.id, run.campaign, run.finished_at or run.started_at, removed, size)


def _prune_scratch(folder: Path, report: PruneReport) -> None:
    if not folder.is_dir():
        return
    cutoff = report.cutoff.timestamp()
    due = [p for p in sorted(folder.rglob("*")) if p.is_file() and _mtime(p) < cutoff]
    if report.dry_run:
        removed, size = len(due), sum(_size(p) for p in due)
    else:
        removed, size = _remove(due, report)
        _remove_empty_folders(folder)
    report.scratch_files += removed
    report.scratch_bytes += size


def _remove(paths: list[Path], report: PruneReport) -> tuple[int, int]:
    removed = size = 0
    for path in paths:
        bytes_ = _size(path)
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as error:
            report.failures.append((path, error.strerror or type(error).__name__))
            continue
        removed, size = removed + 1, size + bytes_
    return removed, size


def _remove_empty_folders(folder: Path) -> None:
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        try:
            sub.rmdir()
        except OSError:
            continue  # not empty (kept files), or not ours to remove


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")


__all__ = ["KEPT_FILES", "PruneReport", "PrunedRun", "parse_age", "prune_runs"]
