"""`StateStore`'s methods for campaign state and runs (see `herald.state._campaigns`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from herald.state import _campaigns as camp
from herald.state import _queries as q
from herald.state._rules import check_aware, check_choice, check_limit, encode_pins, encode_stats
from herald.state._schema import CAMPAIGN_STATUSES, RUN_KINDS, RUN_STATUSES, RUN_TRIGGERS
from herald.state._store_base import StoreBase
from herald.state.models import (
    CampaignState,
    CampaignStatus,
    Run,
    RunKind,
    RunStatus,
    RunTrigger,
)


class CampaignsMixin(StoreBase):
    """Campaign state (uid, status) and the runs of campaigns."""

    # --- campaign state ------------------------------------------------------------------------

    def campaign_uid(self, name: str) -> str:
        """The immutable random id of campaign ``name``, the salt of its hash split.

        The first call creates it (32 hex digits, with the campaign in status draft); every
        later call, from any store, returns the same id for as long as the name exists,
        whatever versions are saved or activated. Concurrent first calls agree.

        Raises:
            NotFoundError: no such campaign.
        """
        return self._campaign_state(name).uid

    def campaign_status(self, name: str) -> CampaignState:
        """The operational state of campaign ``name``: its uid, status and when it changed.

        A campaign whose state was never set is a draft (its uid is created on this call).

        Raises:
            NotFoundError: no such campaign.
        """
        return self._campaign_state(name)

    def settle_campaign(self, name: str) -> CampaignState:
        """The state of campaign ``name``, recovered when a crash left it stuck.

        A campaign ``running`` while none of its runs is running (a crash between two
        writes of an older Herald, or a status set by hand) can never finish: it is given
        back its last run's outcome (delivered or error), or draft when it has no run. A
        running run, even an interrupted one, keeps it running: resuming that run ends it.
        `start_run` settles the campaign itself; commands that show or change a campaign's
        status call this first.

        Raises:
            NotFoundError: no such campaign.
        """
        if not self._read(lambda conn: camp.is_stuck(conn, name)):
            return self._campaign_state(name)
        return self._write(lambda conn: camp.settle(conn, name))

    def set_campaign_status(
        self,
        name: str,
        status: CampaignStatus,
        *,
        expected: str | Iterable[str] | None = None,
    ) -> CampaignState:
        """Set the status of campaign ``name``, as a compare-and-set when ``expected`` is given.

        Example: an edit of a campaign that must not be scheduled is preceded by
        ``set_campaign_status(name, "draft", expected="draft")``, which fails if it is.

        Args:
            name: the campaign's name.
            status: the new status: draft, scheduled, running, delivered, error or archived.
            expected: the status, or statuses, the campaign must be in now; None for any.

        Returns:
            The state as it now stands; nothing is written when the status is already
            ``status`` (and allowed by ``expected``).

        Raises:
            NotFoundError: no such campaign.
            StateError: the current status is not among ``expected``; the message names it.
            ValueError: an unknown status.
        """
        check_choice("campaign status", status, CAMPAIGN_STATUSES)
        wanted = camp.expected_statuses(expected)
        for each in wanted or ():
            check_choice("campaign status", each, CAMPAIGN_STATUSES)
        return self._write(lambda conn: camp.set_status(conn, name, status, wanted))

    def _campaign_state(self, name: str) -> CampaignState:
        # Read first, so that only the very first call takes the write lock.
        existing = self._read(lambda conn: camp.existing_state(conn, name))
        if existing is not None:
            return existing
        return self._write(lambda conn: camp.ensure_state(conn, name))

    # --- runs -----------------------------------------------------------------------------------

    def create_run(
        self,
        campaign: str,
        campaign_version: int,
        *,
        as_of: datetime,
        pins: dict[str, int],
        kind: RunKind = "run",
    ) -> Run:
        """Record the start of a run of one campaign version, in status running.

        Args:
            campaign: the campaign's name.
            campaign_version: the campaign version the run uses; it must exist.
            as_of: the data's as-of time the run pins; timezone-aware.
            pins: segment name to the segment version the run pins.
            kind: ``"run"``, or ``"test"`` for a test run.

        Returns:
            The new run, with a fresh sortable id such as ``run_20261201T101500_a1b2c3``.

        Raises:
            NotFoundError: no such campaign or campaign version.
            ValueError: a naive ``as_of``, malformed pins or an unknown kind.
        """
        check_choice("run kind", kind, RUN_KINDS)
        check_aware(f"campaign {campaign!r}", "as_of", as_of)
        pins_json = encode_pins(campaign, pins)
        return self._write(
            lambda conn: camp.create_run(
                conn, campaign, campaign_version, as_of=as_of, pins_json=pins_json, kind=kind
            )
        )

    def start_run(
        self,
        campaign: str,
        campaign_version: int,
        *,
        as_of: datetime,
        pins: dict[str, int],
        expected: str | Iterable[str] | None = None,
        trigger: RunTrigger = "manual",
        launch_date: date | None = None,
        retry_of: str | None = None,
    ) -> Run:
        """Set campaign ``campaign`` running and record its new run, in one transaction.

        A crash can never leave the campaign running without a run to resume; the run is
        finished, and the campaign's status set, by `finish_run` with ``campaign_status``.

        Args:
            campaign: the campaign's name.
            campaign_version: the campaign version the run uses; it must exist.
            as_of: the data's as-of time the run pins; timezone-aware.
            pins: segment name to the segment version the run pins.
            expected: the status, or statuses, the campaign must be in now; None for any.
            trigger: ``"manual"`` or ``"retry"`` (scheduled runs start with `claim_slot`).
            launch_date: when the run's audience will be used downstream.
            retry_of: the run a retry retries.

        Returns:
            The new run, in status running.

        Raises:
            NotFoundError: no such campaign or campaign version.
            StateError: the campaign's status is not among ``expected``; nothing is written.
            ValueError: a naive ``as_of`` or malformed pins.
        """
        check_aware(f"campaign {campaign!r}", "as_of", as_of)
        pins_json = encode_pins(campaign, pins)
        wanted = camp.expected_statuses(expected)
        for each in wanted or ():
            check_choice("campaign status", each, CAMPAIGN_STATUSES)
        check_choice("run trigger", trigger, RUN_TRIGGERS)
        origin = {"trigger": trigger, "launch_date": launch_date, "retry_of": retry_of}
        return self._write(
            lambda conn: camp.start_run(
                conn,
                campaign,
                campaign_version,
                as_of=as_of,
                pins_json=pins_json,
                expected=wanted,
                **origin,
            )
        )

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        stats: dict[str, Any] | None = None,
        error: str | None = None,
        snapshot: str | None = None,
        campaign_status: CampaignStatus | None = None,
    ) -> Run:
        """Finish a running run as delivered, error or cancelled.

        Args:
            run_id: the run's id.
            status: ``"delivered"``, ``"error"`` or ``"cancelled"``.
            stats: counts and other figures to keep with the run; JSON-serialisable.
            error: what went wrong, for a run ending in error.
            snapshot: where the recipients snapshot was written.
            campaign_status: also set the run's campaign to this status, in the same
                transaction (nothing when the campaign was deleted since).

        Returns:
            The finished run, ``finished_at`` set to now.

        Raises:
            NotFoundError: no such run.
            StateError: the run is not running (it already finished).
            ValueError: an unknown or ``"running"`` status, or stats that are not JSON.
        """
        finished = [s for s in RUN_STATUSES if s != "running"]
        check_choice("final run status", status, finished)
        if campaign_status is not None:
            check_choice("campaign status", campaign_status, CAMPAIGN_STATUSES)
        values: dict[str, Any] = {"error": error, "snapshot": snapshot}
        values["stats"] = encode_stats(run_id, stats)
        given = {column: value for column, value in values.items() if value is not None}
        return self._write(
            lambda conn: camp.finish_run(conn, run_id, status, given, campaign_status)
        )

    def request_cancel(self, run_id: str) -> Run:
        """Ask a running run to stop: set its ``cancel_requested`` flag.

        The run's process sees the flag at its next batch boundary and ends the run
        ``cancelled`` (see ``herald.runs.cancel``); setting it again changes nothing.

        Returns:
            The run, with ``cancel_requested`` set.

        Raises:
            NotFoundError: no such run.
            StateError: the run is not running (it finished); the message names its status.
        """
        return self._write(lambda conn: camp.request_cancel(conn, run_id))

    def get_run(self, run_id: str) -> Run:
        """One run by id.

        Raises:
            NotFoundError: no such run.
        """
        return self._read(lambda conn: camp.get_run(conn, run_id))

    def list_runs(
        self,
        campaign: str | None = None,
        *,
        limit: int | None = None,
        status: RunStatus | None = None,
    ) -> list[Run]:
        """Runs and test runs, newest first: of one campaign, or of all.

        Runs of a deleted campaign are still listed; a name without runs gives ``[]``.

        Args:
            campaign: only this campaign's runs; None for every campaign.
            limit: at most this many (the newest).
            status: only runs in this status.
        """
        check_limit(limit)
        if status is not None:
            check_choice("run status", status, RUN_STATUSES)
        return self._read(
            lambda conn: q.run_rows(conn, campaign=campaign, status=status, limit=limit)
        )

    def last_run(
        self,
        campaign: str,
        *,
        status: RunStatus | None = "delivered",
        kind: RunKind | None = "run",
    ) -> Run | None:
        """The newest run of ``campaign`` in ``status`` and of ``kind`` (None: any), if any.

        By default the last delivered real run: what the destinations' lists now hold.
        """
        if status is not None:
            check_choice("run status", status, RUN_STATUSES)
        if kind is not None:
            check_choice("run kind", kind, RUN_KINDS)

        def run(conn: sa.Connection) -> Run | None:
            rows = q.run_rows(conn, campaign=campaign, status=status, kind=kind, limit=1)
            return rows[0] if rows else None

        return self._read(run)
