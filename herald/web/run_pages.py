"""A run's page: its live progress per list (htmx polls a fragment every second while it
runs), its details once it ends, CSV downloads of its recipients log and per-profile
outcomes, and the editors' actions on it (resume, cancel, retry).

The progress is read from the events the run writes to the state store, so a run started
anywhere (the CLI, the scheduler's worker, this app) shows the same. Actions run off the
request: a resume in a worker process (as the scheduler starts one), a cancel or a retry in a
thread; the browser is sent back to the run page to watch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from herald.exceptions import HeraldError, NotFoundError, StateError
from herald.runs.cancel import cancel_run, check_cancellable
from herald.runs.history import phase_rows, run_header
from herald.runs.progress import RunProgress, run_progress
from herald.runs.resume import is_interrupted, shown_status
from herald.runs.snapshots import read_parquet_files
from herald.state import Run
from herald.web.render import blocking, render, workspace
from herald.workspace import Workspace

RETRY_WAIT = 5.0
"""Seconds a retry request waits for the retry's run to exist, to open its page."""

PROGRESS_CACHED = 64
"""Runs whose progress is kept between two polls, so that a poll reads only new events."""


class _Progresses:
    """Each polled run's progress so far, folded from its events as they come (a poll reads
    ``run_events(after_id=…)``); the runs polled least recently are forgotten first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: OrderedDict[tuple[str, str], RunProgress] = OrderedDict()

    def read(self, ws: Workspace, run_id: str) -> RunProgress:
        key = (str(ws.root), run_id)
        with self._lock:
            progress = self._runs.pop(key, None) or RunProgress()
            events = ws.store.run_events(run_id, after_id=progress.last_id)
            self._runs[key] = run_progress(events, into=progress)
            while len(self._runs) > PROGRESS_CACHED:
                self._runs.popitem(last=False)
            return copy.deepcopy(progress)  # the page renders it while others fold on


PROGRESSES = _Progresses()


def run_context(ws: Workspace, run_id: str) -> dict[str, Any]:
    """What the run page and its progress fragment show (NotFoundError: no such run)."""
    run = ws.store.get_run(run_id)
    status = shown_status(ws, run)
    progress = PROGRESSES.read(ws, run_id)
    stats = run.stats or {}
    return {
        "run": run,
        "status": status,
        "live": run.status == "running",  # an interrupted run too: a resume may pick it up
        "progress": progress,
        "header": run_header(run),
        "phases": phase_rows(stats),
        "stats": stats,
        "errors": stats.get("errors") or ({"run": run.error} if run.error else {}),
        "deliveries": ws.store.run_deliveries(run_id),
        "has_recipients": (ws.runs_dir / run_id / "recipients_log.parquet").exists(),
        "has_outcomes": bool(_outcome_files(ws, run_id)),
    }


async def run_page(request: Request) -> Response:
    """A run: live progress while it runs, then its details and downloads (its JSON twin:
    the run, its shown status, its progress and its list deliveries)."""
    context = await blocking(run_context, workspace(request), request.path_params["run_id"])
    data = {key: context[key] for key in ("run", "status", "deliveries")}
    progress = context["progress"]
    data["progress"] = {"lists": progress.lists, "phases": progress.phases}
    return render(request, "run_page.html", context, data=data)


async def run_progress_fragment(request: Request) -> Response:
    """The part of the run page htmx refreshes: it keeps polling only while the run runs."""
    context = await blocking(run_context, workspace(request), request.path_params["run_id"])
    return render(request, "run_progress.html", context)


def _outcome_files(ws: Workspace, run_id: str) -> list[Path]:
    return sorted((ws.runs_dir / run_id / "deliveries").glob("*/outcomes.parquet"))


def export_csv(ws: Workspace, run_id: str, what: str) -> Path:
    """Write a run's ``recipients`` log or per-profile ``outcomes`` to a temporary CSV file
    (as ``herald campaign recipients --csv`` and ``herald runs outcomes --csv`` write them);
    the caller removes it.

    Raises:
        NotFoundError: no such run, or it has no such file yet.
    """
    from herald.engines.localdb import write_csv

    ws.store.get_run(run_id)
    if what == "recipients":
        files = [ws.runs_dir / run_id / "recipients_log.parquet"]
        files = [f for f in files if f.exists()]
    else:
        files = _outcome_files(ws, run_id)
    if not files:
        msg = f"run {run_id} has no {what} file yet: it is written when its deliveries finish"
        raise NotFoundError(msg)
    table = read_parquet_files(files)
    handle, name = tempfile.mkstemp(prefix="herald-download-", suffix=".csv")
    os.close(handle)
    path = Path(name)
    write_csv(table, path, table.column_names)
    return path


async def download(request: Request) -> Response:
    """A run's recipients log or outcomes as CSV, streamed from a temporary file."""
    run_id, what = request.path_params["run_id"], request.path_params["what"]
    if what not in ("recipients", "outcomes"):
        msg = f"there is no '{what}' download: recipients or outcomes"
        raise NotFoundError(msg)
    path = await blocking(export_csv, workspace(request), run_id, what)
    return FileResponse(
        path,
        media_type="text/csv",
        filename=f"{run_id}-{what}.csv",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


async def resume(request: Request) -> Response:
    """Resume an interrupted run in a worker process, as the scheduler does (editors)."""
    ws = workspace(request)
    run_id = request.path_params["run_id"]
    await blocking(_start_resume, ws, run_id)
    return RedirectResponse(f"/runs/{run_id}", 303)


def _start_resume(ws: Workspace, run_id: str) -> None:
    from herald.runs.scheduler import launch_worker

    run = ws.store.get_run(run_id)
    if run.status != "running" or not is_interrupted(ws, run):
        msg = f"run {run_id} is {shown_status(ws, run)}: only an interrupted run can be resumed"
        raise StateError(msg)
    worker = launch_worker(ws, run_id)
    # reaped by a thread of its own when it ends, so that no zombie is left behind
    threading.Thread(target=worker.wait, name=f"herald-worker-{run_id}", daemon=True).start()


async def cancel(request: Request) -> Response:
    """Ask a running run to stop at its next batch boundary (editors); an interrupted one is
    stopped in a thread."""
    ws = workspace(request)
    run_id = request.path_params["run_id"]
    check_cancellable(await blocking(ws.store.get_run, run_id))  # refused here, not in a thread
    _in_thread(cancel_run, ws, run_id)
    return RedirectResponse(f"/runs/{run_id}", 303)


async def retry(request: Request) -> Response:
    """Retry what failed in a failed run, in a thread (editors); opens the retry's page."""
    from herald.runs.retry import check_retryable, retry_run

    ws = workspace(request)
    run_id = request.path_params["run_id"]
    run = await blocking(ws.store.get_run, run_id)
    await blocking(check_retryable, ws, run)  # refused here, not in a thread
    future = _in_thread(retry_run, ws, run_id)
    new = await _retry_started(ws, run, future)
    return RedirectResponse(f"/runs/{new or run_id}", 303)


async def _retry_started(
    ws: Workspace, run: Run, future: concurrent.futures.Future[Any]
) -> str | None:
    """The retry's run id once it exists; the retry's own error if it failed at once."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RETRY_WAIT
    while loop.time() < deadline:
        if future.done():
            future.result()  # a refusal (StateError) becomes the error page
        runs = await blocking(ws.store.list_runs, run.campaign, limit=5)
        found = next((r.id for r in runs if r.retry_of == run.id), None)
        if found:
            return found
        await asyncio.sleep(0.1)
    return None


def _in_thread(func: Any, *args: Any) -> concurrent.futures.Future[Any]:
    """Run ``func(*args)`` in a thread of its own, which outlives the request; a failure is
    kept in the future (the run records its own error)."""
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def target() -> None:
        try:
            future.set_result(func(*args))
        except (HeraldError, OSError) as error:
            future.set_exception(error)

    threading.Thread(target=target, name=f"herald-{func.__name__}", daemon=True).start()
    return future


ROUTES = [
    Route("/runs/{run_id}", run_page, methods=["GET"]),
    Route("/runs/{run_id}/progress", run_progress_fragment, methods=["GET"]),
    Route("/runs/{run_id}/{what}.csv", download, methods=["GET"]),
    Route("/runs/{run_id}/resume", resume, methods=["POST"]),
    Route("/runs/{run_id}/cancel", cancel, methods=["POST"]),
    Route("/runs/{run_id}/retry", retry, methods=["POST"]),
]
