"""Progress of list deliveries: Rich bars for people, JSON lines for machines."""

from __future__ import annotations

import json
import sys
from types import TracebackType
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from herald.cli._common import err_console, to_jsonable


class SyncProgress:
    """Renders sync events: a bar per list (profiles confirmed of planned, ETA).

    Use as a context manager and pass the instance as the ``progress`` callback.
    """

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
        )
        self._tasks: dict[tuple[str, str], TaskID] = {}

    def __enter__(self) -> SyncProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def __call__(self, event: Any) -> None:
        key = (event.destination, event.list_name)
        label = f"{event.destination}: {event.list_name}"
        if event.kind == "planned":
            total = sum(event.counts.get(k, 0) for k in ("adds", "updates", "removes"))
            note = _plan_note(event.counts)
            task = self._tasks.get(key)
            if task is None:
                self._tasks[key] = self._progress.add_task(label, total=total, note=note)
            else:
                self._progress.update(task, total=total, note=note)
        elif event.kind == "batch_confirmed" and key in self._tasks:
            self._progress.advance(self._tasks[key], int(event.batch.get("rows", 0)))
        elif event.kind == "done" and key in self._tasks:
            task = self._tasks[key]
            total = self._progress.tasks[self._task_index(task)].total or 0
            self._progress.update(task, completed=total, note="done")
        elif event.kind == "failed":
            task = self._tasks.get(key) or self._progress.add_task(label, total=1, note="")
            self._progress.update(task, note=f"[red]failed: {event.error}[/]")

    def note(self, text: str) -> None:
        """Print a line above the bars (a run's phases, when following one)."""
        self._progress.console.print(text, markup=False, highlight=False)

    def _task_index(self, task: TaskID) -> int:
        return next(i for i, t in enumerate(self._progress.tasks) if t.id == task)


def _plan_note(counts: dict[str, int]) -> str:
    parts = [f"+{counts.get('adds', 0):,}", f"−{counts.get('removes', 0):,}"]
    if counts.get("updates"):
        parts.append(f"~{counts['updates']:,}")
    return " ".join(parts)


class JsonProgress:
    """Writes each event as one JSON line on stdout, for machines (``--json``)."""

    def __enter__(self) -> JsonProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()

    def __call__(self, event: Any) -> None:
        sys.stdout.write(json.dumps({"event": to_jsonable(event)}, ensure_ascii=False) + "\n")
        sys.stdout.flush()
