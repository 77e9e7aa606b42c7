"""The state database's tables, as SQLAlchemy Core objects used by the queries.

The migrations in ``migrations/versions`` create these tables; they are written out by hand
there (a migration must not change when this module does). A test compares the two.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from herald.redact import redact, redact_data

# Constraint names are fixed so later migrations can drop or alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp that goes in and comes out as a timezone-aware UTC datetime.

    SQLite has no time zone type: values are stored there as naive UTC and read back as UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            msg = f"naive datetime {value.isoformat()} given to the state store; pass an aware one"
            raise ValueError(msg)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


class RedactedText(sa.types.TypeDecorator[str]):
    """Text that goes in redacted (``herald.redact``): errors stored by any caller never hold
    an API key, an email address or a phone number."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else redact(value)


class RedactedJSONText(sa.types.TypeDecorator[str]):
    """JSON text whose strings go in redacted; numbers and the structure stay as they are."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        data = json.loads(value)
        clean = redact_data(data)
        if clean == data:
            return value
        return json.dumps(clean, separators=(",", ":"), ensure_ascii=False)


metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

definitions = sa.Table(
    "definitions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("kind", "name"),
)

definition_versions = sa.Table(
    "definition_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "definition_id",
        sa.Integer,
        sa.ForeignKey("definitions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("definition_json", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("activated_at", UTCDateTime, nullable=True),
    # Added by 0005: who saved the content last, and who activated it.
    sa.Column("saved_by", sa.String(200), nullable=True),
    sa.Column("activated_by", sa.String(200), nullable=True),
    sa.UniqueConstraint("definition_id", "version"),
    sa.CheckConstraint("status IN ('draft', 'active', 'retired')", name="status"),
    sa.CheckConstraint("version >= 1", name="version_positive"),
    # The database itself guarantees at most one draft and one active version per name, so
    # two writers racing past the store's own checks cannot break the lifecycle.
    sa.Index(
        "uq_definition_versions_one_draft",
        "definition_id",
        unique=True,
        sqlite_where=sa.text("status = 'draft'"),
        postgresql_where=sa.text("status = 'draft'"),
    ),
    sa.Index(
        "uq_definition_versions_one_active",
        "definition_id",
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    ),
)

insights = sa.Table(
    "insights",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("definition_id", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("computed_at", UTCDateTime, nullable=False),
    sa.Column("as_of", UTCDateTime, nullable=True),
    sa.Column("metrics_json", sa.Text, nullable=False),
    # Insights always belong to a version that exists; deleting the name deletes them.
    sa.ForeignKeyConstraint(
        ["definition_id", "version"],
        ["definition_versions.definition_id", "definition_versions.version"],
        ondelete="CASCADE",
    ),
    sa.Index("ix_insights_definition_id_computed_at", "definition_id", "computed_at"),
)

CAMPAIGN_STATUSES = ("draft", "scheduled", "running", "delivered", "error", "archived")
"""Where a campaign is operationally (DESIGN §1.3), apart from its definition's versions."""

RUN_STATUSES = ("running", "delivered", "error", "cancelled")
"""Where a run is: running until it finishes in one of the other three."""

RUN_KINDS = ("run", "test")
"""A real run, or a test run that writes sample files and sends nothing."""

RUN_TRIGGERS = ("manual", "schedule", "retry")
"""What started a run: a person (or the library), a schedule's slot, or a retry of a run."""

SLOT_OUTCOMES = ("started", "missed")
"""What became of a schedule's slot: a run started, or it was too late and was skipped."""


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


campaign_state = sa.Table(
    "campaign_state",
    metadata,
    # One row per campaign name, created lazily; it goes when the name is deleted.
    sa.Column(
        "definition_id",
        sa.Integer,
        sa.ForeignKey("definitions.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    # The salt of the campaign's hash split: never changes once written.
    sa.Column("uid", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="draft"),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("uid"),
    sa.CheckConstraint(_one_of("status", CAMPAIGN_STATUSES), name="status"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    # By name, not by key: the history of runs outlives a deleted campaign definition.
    sa.Column("campaign", sa.String(200), nullable=False),
    sa.Column("campaign_version", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("as_of", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("pins", sa.Text, nullable=False),  # JSON: segment name → version
    sa.Column("snapshot", sa.Text, nullable=True),
    sa.Column("stats", RedactedJSONText, nullable=True),  # JSON
    sa.Column("error", RedactedText, nullable=True),
    # Added by 0004 (new columns only: see that migration); the trigger is checked in code.
    sa.Column("trigger", sa.String(16), nullable=False, server_default="manual"),
    sa.Column("slot", UTCDateTime, nullable=True),
    sa.Column("launch_date", sa.Date, nullable=True),
    sa.Column("retry_of", sa.String(64), nullable=True),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("started_by", sa.String(200), nullable=True),  # added by 0005
    sa.CheckConstraint(_one_of("status", RUN_STATUSES), name="status"),
    sa.CheckConstraint(_one_of("kind", RUN_KINDS), name="kind"),
    sa.CheckConstraint("campaign_version >= 1", name="version_positive"),
    sa.CheckConstraint(
        "(status = 'running') = (finished_at IS NULL)", name="finished_when_not_running"
    ),
    sa.Index("ix_runs_campaign_started_at", "campaign", "started_at"),
)

DELIVERY_STATUSES = ("pending", "planned", "running", "done", "failed")
"""Where a list delivery is: pending until its batches are planned, then running, then done
or failed (a failed delivery can be resumed)."""

BATCH_KINDS = ("add", "update", "remove")
"""What a batch does to a list: import new members, re-import changed ones, remove members."""

BATCH_STATUSES = ("planned", "sent", "confirmed", "failed", "split")
"""Where a batch is: planned before anything is sent, sent once the request returned (with
its job id), confirmed when Klaviyo finished it, failed, or split into smaller batches."""

list_ids = sa.Table(
    "list_ids",
    metadata,
    # The list is found by name once and remembered: list creation has a daily cap.
    sa.Column("destination", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(500), primary_key=True),
    sa.Column("list_id", sa.String(100), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("destination", sa.String(200), nullable=False),
    sa.Column("sub_audience", sa.String(200), nullable=False),
    sa.Column("group_name", sa.String(200), nullable=False),
    sa.Column("list_name", sa.String(500), nullable=False),
    sa.Column("list_id", sa.String(100), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("counts", RedactedJSONText, nullable=True),  # JSON
    sa.Column("error", RedactedText, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("run_id", "destination", "sub_audience", "group_name"),
    sa.CheckConstraint(_one_of("status", DELIVERY_STATUSES), name="status"),
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column(
        "delivery_id",
        sa.Integer,
        sa.ForeignKey("deliveries.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(8), nullable=False),
    # Rows [first_row, first_row + row_count) of the delivery's adds/updates/removes file.
    sa.Column("first_row", sa.Integer, nullable=False),
    sa.Column("row_count", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("job_id", sa.String(100), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", RedactedText, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("confirmed_at", UTCDateTime, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(_one_of("kind", BATCH_KINDS), name="kind"),
    sa.CheckConstraint(_one_of("status", BATCH_STATUSES), name="status"),
    sa.CheckConstraint("row_count >= 1", name="rows_positive"),
)

schedules = sa.Table(
    "schedules",
    metadata,
    # One row per scheduled campaign: what `herald campaign schedule` pinned, and where the
    # schedule stands. The scheduler's tick reads the rows whose next_at has come.
    sa.Column(
        "definition_id",
        sa.Integer,
        sa.ForeignKey("definitions.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("campaign_version", sa.Integer, nullable=False),
    sa.Column("pins", sa.Text, nullable=False),  # JSON: segment name → version
    sa.Column("scheduled_at", UTCDateTime, nullable=False),
    sa.Column("next_at", UTCDateTime, nullable=True),  # None: the schedule has ended
    sa.Column("last_slot", UTCDateTime, nullable=True),
    sa.Column("sends", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("scheduled_by", sa.String(200), nullable=True),  # added by 0005
    sa.Index("ix_schedules_next_at", "next_at"),
)

schedule_slots = sa.Table(
    "schedule_slots",
    metadata,
    # One row per slot used: the primary key makes two schedulers racing for one slot start
    # one run. By name, like runs, so the history outlives a deleted campaign.
    sa.Column("campaign", sa.String(200), primary_key=True),
    sa.Column("slot", UTCDateTime, primary_key=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("skipped", sa.Integer, nullable=False, server_default="0"),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(_one_of("outcome", SLOT_OUTCOMES), name="outcome"),
)

run_events = sa.Table(
    "run_events",
    metadata,
    # A run's progress as it goes, so any process can follow a run another one executes.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("payload", RedactedJSONText, nullable=False),  # JSON
    sa.Index("ix_run_events_run_id_id", "run_id", "id"),
)

WEB_ROLES = ("viewer", "editor")
"""A web user's role: a viewer looks; an editor edits, runs and schedules."""

web_users = sa.Table(
    "web_users",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("password_hash", sa.Text, nullable=False),  # argon2, never the password
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(_one_of("role", WEB_ROLES), name="role"),
)
