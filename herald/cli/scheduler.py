"""``herald scheduler``: the service that starts scheduled campaigns' runs."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
from types import FrameType

import click

from herald.actor import SCHEDULER, acting_as
from herald.alerts import check_notifications
from herald.cli._common import with_workspace
from herald.config import SchedulerSettings, span_value
from herald.logs import JSON_ENV, configure_logging
from herald.runs.alerting import wait_for_alerts
from herald.runs.scheduler import Scheduler, utc_now
from herald.workspace import Workspace

logger = logging.getLogger("herald.scheduler")

ALERTS_AFTER_ONCE, ALERTS_AFTER_STOP = 30.0, 1.5
"""Seconds the command waits at exit for notices still being sent: after ``--once``, and
after a stop."""


def _span(value: str | None, key: str) -> dt.timedelta | None:
    if value is None:
        return None
    try:
        return span_value(value, key)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint=f"--{key}") from None


def _settings(
    ws: Workspace, max_runs: int | None, grace: str | None, poll: str | None
) -> SchedulerSettings:
    """``[scheduler]`` of herald.toml, with the command line's options over it."""
    given = {
        "max_runs": max_runs,
        "grace": _span(grace, "grace"),
        "poll": _span(poll, "poll"),
    }
    return ws.settings.scheduler.model_copy(
        update={k: v for k, v in given.items() if v is not None}
    )


def _fixed_clock(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        msg = f"'{value}' is not an ISO time such as 2026-12-07T09:00:00+00:00"
        raise click.BadParameter(msg, param_hint="--now") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@click.command("scheduler")
@click.option("--max-runs", type=click.IntRange(1, 64), help="Runs at once ([scheduler] max_runs).")
@click.option("--grace", help='Later than this, a slot is missed ([scheduler] grace, e.g. "6h").')
@click.option("--poll", help='Longest sleep between two looks ([scheduler] poll, e.g. "15s").')
@click.option("--once", is_flag=True, help="Start what is due, wait for those runs, and exit.")
@click.option("--json-logs", is_flag=True, help="Log JSON lines (for log collectors).")
@click.option("--now", "fixed_now", hidden=True, help="Act as if it were this time (tests).")
@with_workspace
def command(
    ws: Workspace,
    max_runs: int | None,
    grace: str | None,
    poll: str | None,
    once: bool,
    json_logs: bool,
    fixed_now: str | None,
) -> None:
    """Start the runs of scheduled campaigns when they are due, until stopped.

    Each run works in a process of its own; interrupted runs are resumed first. SIGTERM
    (or Ctrl-C) stops the runs at once, every batch checkpointed, and exits within 10 s;
    the next start resumes them. See docs/herald-scheduler.service for systemd.

    Example:

        herald scheduler --json-logs
    """
    if json_logs:
        os.environ[JSON_ENV] = "1"  # the workers log the same way
    configure_logging(json_lines=json_logs)
    check_notifications(ws.settings.notifications)  # a missing secret fails now, not at 3 am
    settings = _settings(ws, max_runs, grace, poll)
    fixed = _fixed_clock(fixed_now)
    scheduler = Scheduler(ws, settings, clock=(lambda: fixed) if fixed else utc_now)
    with acting_as(SCHEDULER):  # the runs it starts are recorded as the scheduler's
        _serve(scheduler, once=once)
    # A missed slot's or a slow run's notice may still be going out; after SIGTERM the whole
    # stop must stay within 10 s (the workers took up to 8).
    wait_for_alerts(ALERTS_AFTER_ONCE if once else ALERTS_AFTER_STOP)


def _serve(scheduler: Scheduler, *, once: bool) -> None:
    if once:
        _once(scheduler)
        return
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("stopping", extra={"herald": {"event": "stopping", "signal": signum}})
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    logger.info(
        "scheduler started",
        extra={
            "herald": {
                "event": "started",
                "max_runs": scheduler.settings.max_runs,
                "pid": os.getpid(),
            }
        },
    )
    scheduler.serve(stop)
    logger.info("scheduler stopped", extra={"herald": {"event": "stopped"}})


def _once(scheduler: Scheduler) -> None:
    """One look: resume interrupted runs, start the due ones, wait for all of them."""
    scheduler.start()
    report = scheduler.tick()
    scheduler.drain(timeout=24 * 3600)
    logger.info(
        "tick done",
        extra={
            "herald": {
                "event": "once",
                "started": len(report.started),
                "resumed": len(report.resumed),
                "missed": len(report.missed),
            }
        },
    )
