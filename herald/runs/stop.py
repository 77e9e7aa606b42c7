"""Whether a run was asked to stop (`herald runs cancel`), as its deliveries ask it.

A destination asks at each batch boundary (``herald.destinations.base.Stop``), which can be
many times a second across a run's lists: the run's flag in the state store is read at most
once a ``period``, and once it is set the answer stays yes without reading again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from herald.state import StateStore

__all__ = ["CancelCheck"]


class CancelCheck:
    """A run's :data:`~herald.destinations.base.Stop`: its ``cancel_requested`` flag, read
    from the state store at most once a ``period`` seconds.

    Args:
        store: the state store holding the run.
        run_id: the run.
        period: the fewest seconds between two reads of the flag.
        clock: a monotonic clock (tests pass their own).
    """

    def __init__(
        self,
        store: StateStore,
        run_id: str,
        *,
        period: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.run_id, self.period, self.clock = store, run_id, period, clock
        self.requested = False
        self._read_at: float | None = None

    def __call__(self) -> bool:
        """Whether the run was asked to stop (as of the last read)."""
        if self.requested:
            return True
        now = self.clock()
        if self._read_at is None or now - self._read_at >= self.period:
            self._read_at = now
            self.requested = self.store.get_run(self.run_id).cancel_requested
        return self.requested
