"""A run's worker process: ``python -m herald.runs.worker --workspace DIR RUN_ID``.

The scheduler starts one per run, so a crash, a leak or a hung call stays in it. The worker
carries the run (new, or interrupted) to its end from the run's pinned versions and as-of
time. SIGTERM or SIGINT cancels it at once and leaves the run ``running`` with every batch
checkpointed: the next ``herald scheduler`` start (or ``herald runs resume``) continues it.

Exit codes: 0 delivered (or nothing to do), 1 the run ended in error or was cancelled, 2 bad
arguments, 143 stopped by a signal.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from herald.exceptions import HeraldError
from herald.logs import configure_logging

logger = logging.getLogger("herald.worker")

STOPPED = 143
"""The exit code of a worker stopped by a signal (128 + SIGTERM)."""


async def work(root: str, run_id: str) -> int:
    """Carry run ``run_id`` of the workspace at ``root`` to its end; the exit code. A signal
    cancels it: the pipeline leaves a cancelled run running, to be resumed."""
    from herald.runs.pipeline import continue_run_async
    from herald.workspace import Workspace

    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    assert task is not None
    for stop in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop, task.cancel)
    with Workspace.open(root) as ws:
        run = await asyncio.to_thread(ws.store.get_run, run_id)
        if run.status != "running":
            logger.info("run %s is already %s", run_id, run.status)
            return 0
        result = await continue_run_async(ws, run)
    assert result.run is not None
    return 0 if result.run.status == "delivered" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m herald.runs.worker")
    parser.add_argument("--workspace", required=True)
    parser.add_argument("run_id")
    args = parser.parse_args(argv)
    configure_logging()
    try:
        return asyncio.run(work(args.workspace, args.run_id))
    except asyncio.CancelledError:
        logger.info("run %s stopped by a signal; it will be resumed", args.run_id)
        return STOPPED
    except HeraldError as error:
        logger.error("run %s: %s", args.run_id, error)
        return 1


if __name__ == "__main__":
    sys.exit(main())
