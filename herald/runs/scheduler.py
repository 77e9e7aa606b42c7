"""The scheduler: pure slot arithmetic (`herald.core.schedule`) plus a small loop.

Each tick reads the schedules whose next slot has come, claims each slot once in the state
store (a compare-and-set, so two schedulers racing on one store start one run), and starts
every claimed run in a worker process of its own (``python -m herald.runs.worker``), so that a
crash, a leak or a hung call in one run cannot take the scheduler down. At most
``max_runs`` workers run at once; a slot found more than ``grace`` late is recorded as missed.

On start, interrupted runs (running with no live process: a crash, a kill, a lost machine)
are resumed before any new one starts. On stop (SIGTERM), the workers are asked to stop: each
batch is checkpointed before and after it is sent, so a stopped run is resumed, where it
stopped, by the next start.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from herald.core.campaigns.model import Campaign
from herald.core.schedule import Due, due_slot, launch_date, slots_after
from herald.exceptions import HeraldError
from herald.runs.alerting import announce_missed, announce_slow, watches_slow
from herald.runs.resume import is_interrupted

if TYPE_CHECKING:
    from herald.config import SchedulerSettings
    from herald.state import Schedule, SlotRecord, StateStore
    from herald.state._locks import NamedLock
    from herald.workspace import Workspace

logger = logging.getLogger("herald.scheduler")

Clock = Callable[[], dt.datetime]

PRESENCE_LOCK = "scheduler"
"""Every serving scheduler holds this lock, shared: while someone holds it, schedules are
being served (`scheduler_running`)."""

STARTING = dt.timedelta(minutes=2)
"""A run this young with no live process may be one whose worker is still starting (in
another scheduler): it is not taken for interrupted yet."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def scheduler_running(store: StateStore) -> bool:
    """Whether some scheduler serves this state store now (on any machine, with
    PostgreSQL)."""
    return store.lock_held(PRESENCE_LOCK)


@dataclass
class Worker:
    """A run's worker process."""

    run_id: str
    campaign: str
    process: subprocess.Popen[bytes]


@dataclass
class TickReport:
    """What one tick did."""

    started: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    missed: list[SlotRecord] = field(default_factory=list)
    finished: list[tuple[str, int]] = field(default_factory=list)
    waiting: int = 0


Launcher = Callable[["Workspace", str], "subprocess.Popen[bytes]"]


def launch_worker(ws: Workspace, run_id: str) -> subprocess.Popen[bytes]:
    """Start a worker process that carries run ``run_id`` to its end."""
    command = [sys.executable, "-m", "herald.runs.worker", "--workspace", str(ws.root), run_id]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, cwd=ws.root)


class Scheduler:
    """Starts the runs that schedules make due, each in a worker process.

    Args:
        ws: the workspace whose schedules are run.
        settings: ``[scheduler]`` of herald.toml (runs at once, grace, poll interval).
        clock: now, as an aware datetime (tests pass a controllable one).
        launch: starts a worker for a run id (tests may wrap it).
    """

    def __init__(
        self,
        ws: Workspace,
        settings: SchedulerSettings,
        *,
        clock: Clock = utc_now,
        launch: Launcher = launch_worker,
    ) -> None:
        self.ws = ws
        self.settings = settings
        self.clock = clock
        self.launch = launch
        self.workers: dict[str, Worker] = {}
        self._campaigns: dict[tuple[str, int], Campaign] = {}
        self._announced_slow: set[str] = set()
        self._presence: NamedLock | None = None

    # --- one tick -----------------------------------------------------------------------------

    def tick(self) -> TickReport:
        """Reap ended workers, resume interrupted runs, start due slots while there is room."""
        report = TickReport()
        self._reap(report)
        self._resume_interrupted(report)
        now = self.clock()
        due = self.ws.store.due_schedules(now)
        for schedule in due:
            if schedule.campaign in {w.campaign for w in self.workers.values()}:
                continue  # its run is going on here: the slot waits for it
            if self._full():
                report.waiting += 1
                continue
            try:
                self._use_slot(schedule, now, report)
            except HeraldError as error:  # one campaign's trouble must not stop the others
                logger.error(
                    "slot not used: %s",
                    error,
                    extra=_fields("slot_failed", schedule.campaign, next_at=schedule.next_at),
                )
        self._watch_slow()
        return report

    def _full(self) -> bool:
        return len(self.workers) >= self.settings.max_runs

    def _use_slot(self, schedule: Schedule, now: dt.datetime, report: TickReport) -> None:
        campaign = self._campaign(schedule)
        due = due_slot(
            campaign.delivery,
            scheduled_at=schedule.scheduled_at,
            last_slot=schedule.last_slot,
            now=now,
            sends=schedule.sends,
            grace=self.settings.grace,
        )
        if due is None:
            return
        record = self._claim(schedule, campaign, due, now)
        if record is None:
            return  # another scheduler took it, or a run of the campaign goes on
        if record.run_id is None:
            report.missed.append(record)
            logger.warning(
                "slot missed",
                extra=_fields(
                    "slot_missed",
                    schedule.campaign,
                    slot=due.slot,
                    late_seconds=round((now - due.slot).total_seconds()),
                ),
            )
            announce_missed(self.ws, record, now - due.slot)
            return
        self._start(record.run_id, schedule.campaign)
        report.started.append(record.run_id)
        logger.info(
            "run started",
            extra=_fields("run_started", schedule.campaign, run_id=record.run_id, slot=due.slot),
        )

    def _claim(
        self, schedule: Schedule, campaign: Campaign, due: Due, now: dt.datetime
    ) -> SlotRecord | None:
        sends = schedule.sends + (0 if due.missed else 1)
        following = slots_after(
            campaign.delivery, scheduled_at=schedule.scheduled_at, after=due.slot, sends=sends
        )
        return self.ws.store.claim_slot(
            schedule.campaign,
            last_slot=schedule.last_slot,
            slot=due.slot,
            next_at=following[0] if following else None,
            missed=due.missed,
            skipped=due.skipped,
            as_of=now,
            launch_date=launch_date(campaign, due.slot),
        )

    def _campaign(self, schedule: Schedule) -> Campaign:
        """The pinned campaign version (read once: a version never changes)."""
        key = (schedule.campaign, schedule.campaign_version)
        if key not in self._campaigns:
            self._campaigns[key] = self.ws.campaigns.load(*key)[0]
        return self._campaigns[key]

    # --- workers ------------------------------------------------------------------------------

    def _start(self, run_id: str, campaign: str) -> None:
        process = self.launch(self.ws, run_id)
        self.workers[run_id] = Worker(run_id, campaign, process)

    def _reap(self, report: TickReport) -> None:
        for run_id, worker in list(self.workers.items()):
            code = worker.process.poll()
            if code is None:
                continue
            del self.workers[run_id]
            self._announced_slow.discard(run_id)
            report.finished.append((run_id, code))
            run = self.ws.store.get_run(run_id)
            logger.info(
                "run ended",
                extra=_fields(
                    "run_ended", run.campaign, run_id=run_id, status=run.status, exit=code
                ),
            )

    def _resume_interrupted(self, report: TickReport, *, any_age: bool = False) -> None:
        """Start a worker for each run left running by a dead process (oldest first); a run
        younger than `STARTING` only at start-up (``any_age``)."""
        young = dt.datetime.now(dt.UTC) - (dt.timedelta(0) if any_age else STARTING)
        for run in reversed(self.ws.store.list_runs(status="running")):
            if self._full():
                return
            if run.id in self.workers or run.started_at > young or not is_interrupted(self.ws, run):
                continue
            self._start(run.id, run.campaign)
            report.resumed.append(run.id)
            logger.info("run resumed", extra=_fields("run_resumed", run.campaign, run_id=run.id))

    def _watch_slow(self) -> None:
        if not watches_slow(self.ws):
            return
        for run_id in self.workers:
            if run_id in self._announced_slow:
                continue
            run = self.ws.store.get_run(run_id)
            if announce_slow(self.ws, run):
                self._announced_slow.add(run_id)

    # --- the loop -----------------------------------------------------------------------------

    def start(self) -> TickReport:
        """Resume every interrupted run (before any new one starts)."""
        report = TickReport()
        self._resume_interrupted(report, any_age=True)
        return report

    def serve(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set, then stop the workers (see `stop_workers`)."""
        try:
            self.start()
            while not stop.is_set():
                try:
                    self._be_present()
                    self.tick()
                except HeraldError as error:  # the state store is down, say: try again later
                    logger.error("tick failed: %s", error, extra=_fields("tick_failed", ""))
                stop.wait(self._sleep())
            self.stop_workers()
        finally:
            if self._presence is not None:
                self._presence.release()
                self._presence = None

    def _be_present(self) -> None:
        # Taken again when it could not be: `scheduler_running` takes it exclusively for a
        # moment to look, and a store that was down comes back.
        if self._presence is None:
            self._presence = self.ws.store.try_lock(PRESENCE_LOCK, shared=True)

    def _sleep(self) -> float:
        """The poll interval; a second at most while workers run, so that an ended one is
        reaped (and announced) soon."""
        poll = self.settings.poll.total_seconds()
        if self.workers:
            return min(poll, 1.0)
        return max(0.05, poll)

    def drain(self, timeout: float) -> None:
        """Wait for every worker to end (``--once``), reaping them."""
        deadline = time.monotonic() + timeout
        while self.workers and time.monotonic() < deadline:
            self._reap(TickReport())
            time.sleep(0.1)

    def stop_workers(self, timeout: float = 8.0) -> None:
        """Ask every worker to stop (SIGTERM: it stops at once; its batches are checkpointed),
        wait up to ``timeout`` seconds, then kill what is left. The runs stay running, to be
        resumed by the next start."""
        for worker in self.workers.values():
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for worker in self.workers.values():
            left = max(0.0, deadline - time.monotonic())
            try:
                worker.process.wait(left)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
        self.workers.clear()


def _fields(event: str, campaign: str, **values: object) -> dict[str, object]:
    """The structured fields of a log line (``--json-logs`` prints them)."""
    shown = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in values.items()}
    return {"herald": {"event": event, "campaign": campaign, **shown}}
