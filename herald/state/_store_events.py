"""`StateStore`'s methods for a run's progress events (see `herald.state._events`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from herald.state import _events as ev
from herald.state._rules import check_aware, check_limit
from herald.state._store_base import StoreBase
from herald.state.models import RunEvent

_KIND_LENGTH = 32
"""The longest event kind the table holds."""


class EventsMixin(StoreBase):
    """The progress events a run writes as it goes, for any process to follow."""

    def add_run_events(
        self, run_id: str, events: Iterable[tuple[datetime, str, dict[str, Any]]]
    ) -> None:
        """Append progress events to run ``run_id``, in one transaction.

        Args:
            run_id: the run.
            events: ``(at, kind, payload)`` each: a timezone-aware time, a kind of at most
                32 characters (such as ``"phase_finished"`` or ``"batch_confirmed"``) and a
                JSON-serialisable payload; its strings are redacted on write.

        Raises:
            NotFoundError: no such run.
            ValueError: a naive time, an empty or too long kind, or a payload that is not JSON.
        """
        rows = [_encoded(run_id, *event) for event in events]
        self._write(lambda conn: ev.add(conn, run_id, rows))

    def run_events(
        self, run_id: str, *, after_id: int = 0, limit: int | None = None
    ) -> list[RunEvent]:
        """The events of run ``run_id`` with an id above ``after_id``, oldest first.

        A follower passes the id of the last event it saw, to read only the new ones.

        Args:
            run_id: the run (a run with no events, or no such run, gives ``[]``).
            after_id: only events after this one.
            limit: at most this many (the oldest of them).
        """
        check_limit(limit)
        return self._read(lambda conn: ev.after(conn, run_id, after_id, limit))


def _encoded(
    run_id: str, at: datetime, kind: str, payload: dict[str, Any]
) -> tuple[datetime, str, str]:
    check_aware(f"run {run_id}", "event time", at)
    if not kind or len(kind) > _KIND_LENGTH:
        msg = f"run {run_id}: event kind must be 1-{_KIND_LENGTH} characters, not {kind!r}"
        raise ValueError(msg)
    try:
        text = json.dumps(
            payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as error:
        msg = f"run {run_id}: the payload of event {kind!r} is not JSON: {error}"
        raise ValueError(msg) from None
    return at, kind, text
