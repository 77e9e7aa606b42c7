"""A run's worker process: ``python -m herald.runs.worker --workspace DIR RUN_ID``.

The scheduler starts one per run, so a crash, a leak or a hung call stays in it. The worker
carries the run (new, or interrupted) to its end from the run's pinned versions and as-of
time. SIGTERM or SIGINT stops it at once and leaves the run ``running`` with every batch
checkpointed: the next ``herald scheduler`` start (or ``herald runs resume``) continues it.

Exit codes: 0 delivered (or nothing to do), 1 the run ended in error or cancelled, 2 bad
arguments, 143 stopped by a signal.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from herald.exceptions import HeraldError, RunInterrupted
from herald.logs import configure_logging

logger = logging.getLogger("herald.worker")

STOPPED = 143
"""The exit code of a worker stopped by a signal (128 + SIGTERM)."""


def _stop(signum: int, _frame: FrameType | None) -> None:
    msg = f"stopped by {signal.Signals(signum).name}"
    raise RunInterrupted(msg)


def work(root: str, run_id: str) -> int:
    """Carry run ``run_id`` of the workspace at ``root`` to its end; the exit code."""
    from herald.runs.pipeline import continue_run
    from herald.workspace import Workspace

    with Workspace.open(root) as ws:
        run = ws.store.get_run(run_id)
        if run.status != "running":
            logger.info("run %s is already %s", run_id, run.status)
            return 0
        result = continue_run(ws, run)
    assert result.run is not None
    return 0 if result.run.status == "delivered" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m herald.runs.worker")
    parser.add_argument("--workspace", required=True)
    parser.add_argument("run_id")
    args = parser.parse_args(argv)
    configure_logging()
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        return work(args.workspace, args.run_id)
    except RunInterrupted as stop:
        logger.info("run %s %s; it will be resumed", args.run_id, stop)
        return STOPPED
    except HeraldError as error:
        logger.error("run %s: %s", args.run_id, error)
        return 1


if __name__ == "__main__":
    sys.exit(main())
