"""`StateStore`'s methods for schedules, their slots and named locks (see
`herald.state._schedules` and `herald.state._locks`)."""

from __future__ import annotations

from datetime import date, datetime

from herald.state import _locks
from herald.state import _schedules as sched
from herald.state._rules import check_aware, check_limit, encode_pins
from herald.state._store_base import StoreBase
from herald.state.models import CampaignState, Schedule, SlotRecord


class SchedulesMixin(StoreBase):
    """Schedules (what scheduling pinned, the next slot), the slots used, and locks."""

    def schedule_campaign(
        self,
        name: str,
        version: int,
        pins: dict[str, int],
        *,
        scheduled_at: datetime,
        next_at: datetime | None,
    ) -> Schedule:
        """Schedule campaign ``name``: pin its version and segment versions, set it
        ``scheduled``. Scheduling a scheduled campaign again re-pins it and starts its
        schedule afresh (its count of sends too).

        Args:
            name: the campaign.
            version: the campaign version its runs will use.
            pins: segment name to the segment version its runs will use.
            scheduled_at: now: the slot of "as soon as possible" and the default start.
            next_at: its first slot (UTC); None when it has none left.

        Raises:
            NotFoundError: no such campaign or version.
            StateError: the campaign is running or archived; the message says what to do.
        """
        check_aware(f"campaign {name!r}", "scheduled_at", scheduled_at)
        if next_at is not None:
            check_aware(f"campaign {name!r}", "next_at", next_at)
        pins_json = encode_pins(name, pins)
        return self._write(
            lambda conn: sched.schedule(
                conn, name, version, pins_json, scheduled_at=scheduled_at, next_at=next_at
            )
        )

    def unschedule_campaign(self, name: str) -> CampaignState:
        """Drop the schedule of campaign ``name`` and make it a draft again, for editing.

        Raises:
            NotFoundError: no such campaign.
            StateError: the campaign is not scheduled (or a run of it is going on).
        """
        return self._write(lambda conn: sched.unschedule(conn, name))

    def schedule(self, name: str) -> Schedule | None:
        """The schedule of campaign ``name``, None when it is not scheduled.

        Raises:
            NotFoundError: no such campaign.
        """
        return self._read(lambda conn: sched.get(conn, name))

    def due_schedules(self, now: datetime, *, limit: int | None = None) -> list[Schedule]:
        """The schedules whose next slot is at or before ``now``, most overdue first."""
        check_aware("the scheduler", "now", now)
        check_limit(limit)
        return self._read(lambda conn: sched.due(conn, now, limit))

    def claim_slot(
        self,
        name: str,
        *,
        last_slot: datetime | None,
        slot: datetime,
        next_at: datetime | None,
        missed: bool = False,
        skipped: int = 0,
        as_of: datetime,
        launch_date: date | None = None,
    ) -> SlotRecord | None:
        """Use slot ``slot`` of campaign ``name``'s schedule, exactly once across schedulers.

        In one transaction: the schedule moves on to ``next_at``; the slot is recorded; and,
        unless ``missed``, the campaign is set running with a new run (trigger
        ``schedule``) of its pinned versions, whose id the record holds.

        Args:
            last_slot: the schedule's last slot as the caller read it: the claim is a
                compare-and-set on it.
            slot: the slot being used.
            next_at: the slot after it; None when the schedule ends with this one.
            missed: record the slot as missed (too late) instead of starting a run.
            skipped: older slots, missed while no scheduler ran, folded into this one.
            as_of: the run's as-of time.
            launch_date: the run's launch date.

        Returns:
            The slot's record; None, with nothing written, when another scheduler used the
            slot first or a run of the campaign is still going.
        """
        for label, value in (("slot", slot), ("as_of", as_of)):
            check_aware(f"campaign {name!r}", label, value)
        return self._write(
            lambda conn: sched.claim(
                conn,
                name,
                last_slot=last_slot,
                slot=slot,
                next_at=next_at,
                missed=missed,
                skipped=skipped,
                as_of=as_of,
                launch_date=launch_date,
            )
        )

    def schedule_slots(
        self, campaign: str | None = None, *, limit: int | None = None
    ) -> list[SlotRecord]:
        """The slots schedules used (started or missed), newest first."""
        check_limit(limit)
        return self._read(lambda conn: sched.slots(conn, campaign, limit))

    def try_lock(self, name: str, *, shared: bool = False) -> _locks.NamedLock | None:
        """Take the named lock without waiting, for as long as the caller holds it; None when
        another process holds it (a ``shared`` lock: holds it exclusively). Held across
        processes (SQLite) and machines (PostgreSQL); a process that dies releases its
        locks."""
        return _locks.try_acquire(self._engine, name, shared=shared)

    def lock_held(self, name: str) -> bool:
        """Whether some process holds the named lock now."""
        return _locks.is_held(self._engine, name)
