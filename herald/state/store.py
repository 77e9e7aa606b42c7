"""The state store: versioned definitions and insights history in SQLite or PostgreSQL."""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Engine

from herald.exceptions import StateError
from herald.state import _campaigns as camp
from herald.state import _deliveries as dl
from herald.state import _lifecycle as lc
from herald.state import _migrate
from herald.state import _queries as q
from herald.state._engine import WRITE_OPTION, create_state_engine, safe_url
from herald.state._rules import (
    check_aware,
    check_choice,
    check_description,
    check_kind,
    check_name,
    encode_definition,
    encode_metrics,
    encode_pins,
    encode_stats,
)
from herald.state._schema import (
    BATCH_KINDS,
    BATCH_STATUSES,
    CAMPAIGN_STATUSES,
    DELIVERY_STATUSES,
    RUN_KINDS,
    RUN_STATUSES,
)
from herald.state.models import (
    ApplyResult,
    BatchRecord,
    BatchStatus,
    CampaignState,
    CampaignStatus,
    DefinitionSummary,
    DefinitionVersion,
    DeliveryRecord,
    DeliveryStatus,
    InsightsRecord,
    Run,
    RunKind,
    RunStatus,
    SaveResult,
    Which,
)

T = TypeVar("T")

_WRITE_ATTEMPTS = 3
"""A write that loses a race on a unique constraint is retried this many times in all."""


class StateStore:
    """Herald's persistent state: versioned definitions, insights, campaign state and runs.

    Open one with `StateStore.open`; it is safe to share between threads, and several
    stores (or processes) may use the same database at once. Every method that changes
    something runs in one transaction: when it raises, nothing was written.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> with StateStore.open(f"sqlite:///{folder}/state.db") as store:
        ...     store.save_draft("segment", "vip", {"where": {"all": []}}).version.version
        ...     store.activate("segment", "vip").status
        1
        'active'
    """

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine whose database is already at the newest schema; use `open`."""
        self._engine = engine
        self._joined = threading.local()  # the connection of an open `transaction()`, if any

    # --- opening and closing ----------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, create: bool = True) -> StateStore:
        """Open the state database at ``url``, creating or upgrading its schema.

        Args:
            url: a SQLAlchemy URL, ``sqlite:///path/to/state.db`` (the folder is created)
                or ``postgresql+psycopg://user@host/db``.
            create: whether a missing SQLite file, or a database without Herald's tables, may
                be created; when false (every command but ``herald init``) they are errors,
                so a mistyped URL cannot open an empty store.

        Returns:
            The open store.

        Raises:
            ConfigError: the URL is not valid or names an unsupported database.
            MissingDependencyError: the PostgreSQL driver is not installed.
            StateError: the database cannot be reached, or was written by a newer Herald.
        """
        engine = create_state_engine(url, create=create)
        try:
            _upgrade_to_head(engine, create=create)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        """Close every pooled connection. The store must not be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StateStore({safe_url(self._engine.url)!r})"

    # --- versioned definitions --------------------------------------------------------------

    def save_draft(
        self, kind: str, name: str, definition: dict[str, Any], *, description: str | None = None
    ) -> SaveResult:
        """Save ``definition`` as the draft of ``name``.

        A new name gets version 1. An existing draft is rewritten in place (same version
        number). When only an active version exists, a new draft version is made beside it;
        the active version never changes.

        Args:
            kind: ``"segment"`` or ``"campaign"``.
            name: the definition's name: 1–200 characters, no surrounding whitespace.
            definition: the definition; it must be JSON-serialisable.
            description: free text; None keeps the description the name already has.

        Returns:
            The draft, and ``changed=False`` when neither its content (by canonical hash)
            nor its description changed, in which case nothing was written.

        Raises:
            DefinitionError: the name, description or definition is invalid.
        """
        content, description = self._checked(kind, name, definition, description)
        return self._write(lambda conn: lc.save_draft(conn, kind, name, content, description))

    def activate(self, kind: str, name: str) -> DefinitionVersion:
        """Make the draft of ``name`` its active version; the previous active one retires.

        Returns:
            The newly active version.

        Raises:
            NotFoundError: no such name.
            StateError: there is no draft to activate.
        """
        check_kind(kind)
        return self._write(lambda conn: lc.activate_draft(conn, kind, name))

    def get(self, kind: str, name: str, which: Which = "latest") -> DefinitionVersion:
        """Return one version of ``name``.

        Args:
            kind: ``"segment"`` or ``"campaign"``.
            name: the definition's name.
            which: ``"active"``, ``"draft"``, ``"latest"`` (the highest version number,
                whatever its status) or a version number.

        Raises:
            NotFoundError: no such name, or no version in that status or with that number;
                the message says what exists.
        """
        check_kind(kind)
        return self._read(lambda conn: lc.get_version(conn, kind, name, which))

    def list(self, kind: str) -> builtins.list[DefinitionSummary]:
        """Every definition of ``kind``, sorted by name."""
        check_kind(kind)
        return self._read(lambda conn: q.summaries(conn, kind))

    def versions(self, kind: str, name: str) -> builtins.list[DefinitionVersion]:
        """Every version of ``name``, oldest first.

        Raises:
            NotFoundError: no such name.
        """
        check_kind(kind)

        def run(conn: sa.Connection) -> builtins.list[DefinitionVersion]:
            definition = lc.require(conn, kind, name)
            return [q.to_version(kind, name, row) for row in q.version_rows(conn, definition.id)]

        return self._read(run)

    def apply(
        self,
        kind: str,
        name: str,
        definition: dict[str, Any],
        *,
        status: Literal["draft", "active"],
        description: str | None = None,
    ) -> ApplyResult:
        """Make ``definition`` stand as the draft or the active version of ``name``.

        Declarative and idempotent: when the version standing in ``status`` already has
        this content (and description, when one is given), nothing is written at all.
        Content equal to the active version counts as applied for ``status="draft"`` too,
        when there is no draft. With ``status="active"`` the draft is saved and activated
        in one transaction.

        Args:
            kind: ``"segment"`` or ``"campaign"``.
            name: the definition's name.
            definition: the desired content.
            status: ``"draft"`` or ``"active"``.
            description: free text; None keeps the description the name already has.

        Returns:
            The version now standing, and what was done: ``"created"`` (a new name),
            ``"updated"`` (a draft was written), ``"activated"`` (a new active version)
            or ``"unchanged"``.

        Raises:
            DefinitionError: the name, description or definition is invalid.
        """
        if status not in ("draft", "active"):
            msg = f"apply status must be 'draft' or 'active', not {status!r}"
            raise ValueError(msg)
        content, description = self._checked(kind, name, definition, description)
        return self._write(lambda conn: lc.apply(conn, kind, name, content, description, status))

    def delete(self, kind: str, name: str) -> None:
        """Delete a name with its versions, insights and campaign state.

        A segment can be deleted only while it was never activated (campaigns may use it).
        A campaign can be deleted only while its status is draft or scheduled (DESIGN §1.3),
        whether or not it has an active version; its runs are kept as history.

        Raises:
            NotFoundError: no such name.
            StateError: the segment has an active version, or the campaign is running,
                delivered, in error or archived; the message says what to do instead.
        """
        check_kind(kind)
        if kind == "campaign":
            self._write(lambda conn: camp.delete(conn, name))
        else:
            self._write(lambda conn: lc.delete(conn, kind, name))

    # --- insights -----------------------------------------------------------------------------

    def record_insights(
        self,
        name: str,
        version: int,
        metrics: dict[str, float | int | None],
        *,
        computed_at: datetime,
        as_of: datetime | None = None,
    ) -> InsightsRecord:
        """Append the insights of one version of segment ``name`` to its history.

        Args:
            name: the segment's name.
            version: the segment version the metrics were computed for.
            metrics: metric name to a number, or None when it could not be computed.
            computed_at: when they were computed; timezone-aware.
            as_of: the data's as-of time, if known; timezone-aware.

        Raises:
            NotFoundError: no such segment or version.
            ValueError: a naive datetime, or a metric that is not a finite number or None.
        """
        metrics_json = encode_metrics(name, metrics)
        check_aware(f"segment {name!r}", "computed_at", computed_at)
        check_aware(f"segment {name!r}", "as_of", as_of)

        def run(conn: sa.Connection) -> InsightsRecord:
            definition = lc.require(conn, "segment", name)
            lc.version_by_number(conn, "segment", name, definition.id, version)
            q.insert_insights(conn, definition.id, version, metrics_json, computed_at, as_of)
            return q.insights_rows(conn, name, definition.id, limit=1)[0]

        return self._write(run)

    def insights_history(
        self, name: str, *, limit: int | None = None
    ) -> builtins.list[InsightsRecord]:
        """The insights history of segment ``name``, oldest first.

        Args:
            name: the segment's name.
            limit: keep only the newest ``limit`` records (still returned oldest first).

        Raises:
            NotFoundError: no such segment.
        """
        _check_limit(limit)

        def run(conn: sa.Connection) -> builtins.list[InsightsRecord]:
            definition = lc.require(conn, "segment", name)
            return q.insights_rows(conn, name, definition.id, limit)

        return self._read(run)

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
        return self._write(
            lambda conn: camp.start_run(
                conn, campaign, campaign_version, as_of=as_of, pins_json=pins_json, expected=wanted
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

    def get_run(self, run_id: str) -> Run:
        """One run by id.

        Raises:
            NotFoundError: no such run.
        """
        return self._read(lambda conn: camp.get_run(conn, run_id))

    def list_runs(
        self, campaign: str | None = None, *, limit: int | None = None
    ) -> builtins.list[Run]:
        """Runs and test runs, newest first: of one campaign, or of all.

        Runs of a deleted campaign are still listed; a name without runs gives ``[]``.

        Args:
            campaign: only this campaign's runs; None for every campaign.
            limit: at most this many (the newest).
        """
        _check_limit(limit)
        return self._read(lambda conn: q.run_rows(conn, campaign=campaign, limit=limit))

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

    # --- list deliveries ------------------------------------------------------------------------

    def list_id(self, destination: str, name: str) -> str | None:
        """The remembered id of list ``name`` at ``destination``, None when never seen."""
        return self._read(lambda conn: dl.list_id(conn, destination, name))

    def remember_list_id(self, destination: str, name: str, list_id: str) -> str:
        """Remember the id of list ``name`` so it is looked up by name only once.

        Returns:
            The id now remembered: an id remembered earlier wins over ``list_id``.
        """
        return self._write(lambda conn: dl.remember_list_id(conn, destination, name, list_id))

    def forget_list_id(self, destination: str, name: str) -> None:
        """Forget a remembered list id (the list no longer exists at the destination)."""
        self._write(lambda conn: dl.forget_list_id(conn, destination, name))

    def start_delivery(
        self, run_id: str, destination: str, sub_audience: str, group: str, list_name: str
    ) -> DeliveryRecord:
        """The delivery of one group to one list in a run; created ``pending`` when new.

        Idempotent, so a resumed run finds the delivery and batches it recorded before.

        Raises:
            NotFoundError: no such run.
        """
        return self._write(
            lambda conn: dl.start_delivery(
                conn, run_id, destination, sub_audience, group, list_name
            )
        )

    def get_delivery(self, delivery_id: int) -> DeliveryRecord:
        """One delivery by id.

        Raises:
            NotFoundError: no such delivery.
        """
        return self._read(lambda conn: dl.get_delivery(conn, delivery_id))

    def run_deliveries(self, run_id: str) -> builtins.list[DeliveryRecord]:
        """The deliveries of a run, in the order they were first recorded."""
        return self._read(lambda conn: dl.run_deliveries(conn, run_id))

    def unsettled_deliveries(
        self, destination: str, list_name: str, run_id: str
    ) -> builtins.list[DeliveryRecord]:
        """Failed deliveries of a list, in runs other than ``run_id``, that left import
        batches ``sent`` (their jobs may have completed since), oldest first."""
        return self._read(
            lambda conn: dl.unsettled_deliveries(conn, destination, list_name, run_id)
        )

    def update_delivery(
        self,
        delivery_id: int,
        *,
        status: DeliveryStatus | None = None,
        list_id: str | None = None,
        counts: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> DeliveryRecord:
        """Change a delivery's status, list id, counts or error (None leaves a value alone;
        a status other than ``failed`` clears the error).

        Raises:
            NotFoundError: no such delivery.
            ValueError: an unknown status.
        """
        values: dict[str, Any] = {}
        if status is not None:
            check_choice("delivery status", status, DELIVERY_STATUSES)
            values["status"] = status
            values["error"] = error if status == "failed" else None
        elif error is not None:
            values["error"] = error
        if list_id is not None:
            values["list_id"] = list_id
        if counts is not None:
            values["counts"] = counts
        return self._write(lambda conn: dl.update_delivery(conn, delivery_id, **values))

    def plan_delivery(
        self,
        delivery_id: int,
        batches: Iterable[tuple[str, int, int]],
        *,
        counts: dict[str, Any],
    ) -> DeliveryRecord:
        """Record every batch of a pending delivery as planned, before anything is sent.

        Args:
            delivery_id: the delivery.
            batches: ``(kind, first_row, row_count)`` in sending order; numbered from 1.
            counts: the planned figures, kept with the delivery.

        Raises:
            StateError: the delivery was planned already.
            ValueError: an unknown kind or an empty batch.
        """
        planned = builtins.list(batches)
        for kind, first, count in planned:
            check_choice("batch kind", kind, BATCH_KINDS)
            if first < 0 or count < 1:
                msg = f"a batch covers at least one row from row 0 on, not {count} from {first}"
                raise ValueError(msg)
        return self._write(lambda conn: dl.plan_delivery(conn, delivery_id, planned, counts))

    def batches(
        self, delivery_id: int, statuses: Iterable[BatchStatus] | None = None
    ) -> builtins.list[BatchRecord]:
        """The batches of a delivery by seq, optionally only those in ``statuses``."""
        wanted = None if statuses is None else builtins.list(statuses)
        return self._read(lambda conn: dl.batches(conn, delivery_id, wanted))

    def set_batch(
        self,
        delivery_id: int,
        seq: int,
        status: BatchStatus,
        *,
        job_id: str | None = None,
        error: str | None = None,
    ) -> BatchRecord:
        """Checkpoint a batch: ``sent`` (with the job id; counts an attempt), ``confirmed``,
        ``failed`` or back to ``planned`` (to send again). A confirmed batch never goes back.

        Raises:
            NotFoundError: no such batch.
            StateError: a move that is not allowed, such as confirmed → sent.
        """
        check_choice("batch status", status, BATCH_STATUSES)
        return self._write(
            lambda conn: dl.set_batch(conn, delivery_id, seq, status, job_id=job_id, error=error)
        )

    def count_batch_attempt(
        self, delivery_id: int, seq: int, error: str | None = None
    ) -> BatchRecord:
        """Count a send that failed without a job id: the request may have gone out."""
        return self._write(lambda conn: dl.count_attempt(conn, delivery_id, seq, error))

    def split_batch(self, delivery_id: int, seq: int, reason: str) -> builtins.list[BatchRecord]:
        """Split a batch Klaviyo rejected as a whole into two planned halves (one transaction).

        Returns:
            The two new batches, numbered after the delivery's last batch.

        Raises:
            StateError: the batch has a single row, or is confirmed already.
        """
        return self._write(lambda conn: dl.split_batch(conn, delivery_id, seq, reason))

    # --- transactions -------------------------------------------------------------------------

    def _checked(
        self, kind: str, name: str, definition: object, description: object
    ) -> tuple[tuple[str, str], str | None]:
        check_kind(kind)
        check_name(kind, name)
        return encode_definition(kind, name, definition), check_description(kind, name, description)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run every call on this store inside the block (in this thread) as one transaction.

        Everything the block writes is committed together when it ends, or nothing is when it
        raises; calls inside see the block's own changes. A nested block joins the outer one.

        Raises:
            StateError: another writer changed the same name meanwhile; run it again.
        """
        if getattr(self._joined, "conn", None) is not None:
            yield
            return
        try:
            with _database_errors(), self._engine.connect() as conn:
                conn.execution_options(**{WRITE_OPTION: True})
                with conn.begin():
                    self._joined.conn = conn
                    try:
                        yield
                    finally:
                        self._joined.conn = None
        except lc.LostRace as lost:
            msg = f"the state store was changed concurrently and nothing was written: {lost}"
            raise StateError(msg) from lost.__cause__

    def _read(self, work: Callable[[sa.Connection], T]) -> T:
        joined = getattr(self._joined, "conn", None)
        if joined is not None:
            with _database_errors():
                return work(joined)
        # One transaction even for reads, so a method sees one consistent snapshot.
        with _database_errors(), self._engine.connect() as conn, conn.begin():
            return work(conn)

    def _write(self, work: Callable[[sa.Connection], T]) -> T:
        joined = getattr(self._joined, "conn", None)
        if joined is not None:  # inside transaction(): a lost race fails the whole block
            with _database_errors():
                return work(joined)
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                with _database_errors(), self._engine.connect() as conn:
                    conn.execution_options(**{WRITE_OPTION: True})
                    with conn.begin():
                        return work(conn)
            except lc.LostRace as lost:
                # Another writer created the same name or version first (PostgreSQL only:
                # SQLite writers are serialised). Re-reading now sees its work.
                if attempt == _WRITE_ATTEMPTS:
                    msg = f"the state store was changed concurrently and the write failed: {lost}"
                    raise StateError(msg) from lost.__cause__
        msg = "unreachable: the last attempt either returns or raises"
        raise AssertionError(msg)


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 0:
        msg = f"limit must be 0 or more, not {limit}"
        raise ValueError(msg)


@contextmanager
def _database_errors() -> Iterator[None]:
    """Translate driver errors into Herald's, at the store's boundary."""
    try:
        yield
    except sa.exc.IntegrityError as err:
        if _is_unique_violation(err):
            raise lc.LostRace(str(err.orig)) from err
        msg = f"the state database refused the change: {err.orig}"
        raise StateError(msg) from err
    except sa.exc.DBAPIError as err:
        msg = f"state database error: {err.orig}"
        raise StateError(msg) from err


def _is_unique_violation(err: sa.exc.IntegrityError) -> bool:
    # PostgreSQL reports SQLSTATE 23505; Python's sqlite3 (3.11+) names the extended code.
    code = getattr(err.orig, "sqlstate", None) or getattr(err.orig, "sqlite_errorname", None)
    return code in {"23505", "SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}


def _upgrade_to_head(engine: Engine, *, create: bool = True) -> None:
    with _database_errors(), engine.connect() as conn:
        current = _migrate.current_revision(conn)
        conn.rollback()
        if current == _migrate.head_revision():
            return
        if current is None and not create:
            msg = (
                f"the state database {safe_url(engine.url)} has no Herald tables: create them "
                "with `herald init`, or fix [state] url in herald.toml"
            )
            raise StateError(msg)
        _check_known_revision(engine, current)
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            _migrate.upgrade(conn)


def _check_known_revision(engine: Engine, current: str | None) -> None:
    if current is None:
        return
    try:
        ScriptDirectory.from_config(_migrate.alembic_config()).get_revision(current)
    except CommandError as err:
        msg = (
            f"the state database {safe_url(engine.url)} is at schema revision {current!r}, "
            "which this version of Herald does not know; it was written by a newer Herald: "
            "upgrade Herald to use it"
        )
        raise StateError(msg) from err
