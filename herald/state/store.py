"""The state store: versioned definitions and insights history in SQLite or PostgreSQL.

`StateStore` is one object; its methods for campaign state and runs live in
`herald.state._store_campaigns`, those for list deliveries in `herald.state._store_deliveries`,
and the transactions they all run in in `herald.state._store_base`.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from types import TracebackType
from typing import Any, Literal

import sqlalchemy as sa

from herald.state import _campaigns as camp
from herald.state import _lifecycle as lc
from herald.state import _migrate
from herald.state import _queries as q
from herald.state._engine import create_state_engine, safe_url
from herald.state._rules import (
    check_aware,
    check_description,
    check_kind,
    check_limit,
    check_name,
    encode_definition,
    encode_metrics,
)
from herald.state._store_campaigns import CampaignsMixin
from herald.state._store_deliveries import DeliveriesMixin
from herald.state._store_events import EventsMixin
from herald.state._store_schedules import SchedulesMixin
from herald.state._store_users import UsersMixin
from herald.state.models import (
    ApplyResult,
    DefinitionSummary,
    DefinitionVersion,
    InsightsRecord,
    SaveResult,
    Which,
)


class StateStore(CampaignsMixin, DeliveriesMixin, EventsMixin, SchedulesMixin, UsersMixin):
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
            _migrate.upgrade_to_head(engine, create=create)
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
        check_limit(limit)

        def run(conn: sa.Connection) -> builtins.list[InsightsRecord]:
            definition = lc.require(conn, "segment", name)
            return q.insights_rows(conn, name, definition.id, limit)

        return self._read(run)

    # --- checks -------------------------------------------------------------------------

    def _checked(
        self, kind: str, name: str, definition: object, description: object
    ) -> tuple[tuple[str, str], str | None]:
        check_kind(kind)
        check_name(kind, name)
        return encode_definition(kind, name, definition), check_description(kind, name, description)
