"""A test hook: kill the process at a named point of a run, to prove a crash there is safe.

Points: ``run_created`` (with the campaign's status), ``snapshot_written``,
``delivery_started:<n>`` and ``delivery_finished:<n>`` (n counts the run's deliveries from 1,
in the campaign's order), ``delivery_midway`` (inside a delivery, once part of it is done:
each destination says where), ``run_finished`` (with the campaign's status).
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "HERALD_CRASH_AT"
"""The name of the point at which the process kills itself with SIGKILL."""


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if ``HERALD_CRASH_AT`` names this point."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
