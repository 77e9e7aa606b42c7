"""Schedules, the slots they used, run triggers and live run events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

# Written out here rather than imported from herald.state._schema: a migration must keep
# doing what it did when it was written, whatever the current code looks like.
_TIMESTAMP = sa.DateTime(timezone=True)

# Only new columns on runs: SQLite can add a column in place, while changing a constraint
# means copying the table, which (foreign keys on, inside a transaction) would cascade-delete
# every delivery of every run.
_RUN_COLUMNS = (
    sa.Column("trigger", sa.String(16), nullable=False, server_default="manual"),
    sa.Column("slot", _TIMESTAMP, nullable=True),
    sa.Column("launch_date", sa.Date, nullable=True),
    sa.Column("retry_of", sa.String(64), nullable=True),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
)


def upgrade() -> None:
    for column in _RUN_COLUMNS:
        op.add_column("runs", column)
    op.create_table(
        "schedules",
        sa.Column("definition_id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("campaign_version", sa.Integer, nullable=False),
        sa.Column("pins", sa.Text, nullable=False),
        sa.Column("scheduled_at", _TIMESTAMP, nullable=False),
        sa.Column("next_at", _TIMESTAMP, nullable=True),
        sa.Column("last_slot", _TIMESTAMP, nullable=True),
        sa.Column("sends", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("definition_id", name="pk_schedules"),
        sa.ForeignKeyConstraint(
            ["definition_id"],
            ["definitions.id"],
            name="fk_schedules_definition_id_definitions",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_schedules_next_at", "schedules", ["next_at"])
    op.create_table(
        "schedule_slots",
        sa.Column("campaign", sa.String(200), nullable=False),
        sa.Column("slot", _TIMESTAMP, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("skipped", sa.Integer, nullable=False, server_default="0"),
        sa.Column("recorded_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("campaign", "slot", name="pk_schedule_slots"),
        sa.CheckConstraint("outcome IN ('started', 'missed')", name="ck_schedule_slots_outcome"),
    )
    op.create_table(
        "run_events",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("at", _TIMESTAMP, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_run_events"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_run_events_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_run_events_run_id_id", "run_events", ["run_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_run_events_run_id_id", table_name="run_events")
    op.drop_table("run_events")
    op.drop_table("schedule_slots")
    op.drop_index("ix_schedules_next_at", table_name="schedules")
    op.drop_table("schedules")
    # SQLite 3.35+ drops a column in place (no copy of the table, see above).
    for column in reversed(_RUN_COLUMNS):
        op.drop_column("runs", column.name)
