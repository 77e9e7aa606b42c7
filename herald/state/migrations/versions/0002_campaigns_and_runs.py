"""Campaign operational state (immutable uid, status) and the runs of campaigns.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

# Written out here rather than imported from herald.state._schema: a migration must keep
# doing what it did when it was written, whatever the current code looks like.
_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Rows are created lazily, the first time a campaign's uid or status is asked for, so
    # campaigns saved before this revision need no backfill.
    op.create_table(
        "campaign_state",
        sa.Column("definition_id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="draft"),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("definition_id", name="pk_campaign_state"),
        sa.ForeignKeyConstraint(
            ["definition_id"],
            ["definitions.id"],
            name="fk_campaign_state_definition_id_definitions",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("uid", name="uq_campaign_state_uid"),
        sa.CheckConstraint(
            "status IN ('draft', 'scheduled', 'running', 'delivered', 'error', 'archived')",
            name="ck_campaign_state_status",
        ),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("campaign", sa.String(200), nullable=False),
        sa.Column("campaign_version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("as_of", _TIMESTAMP, nullable=False),
        sa.Column("started_at", _TIMESTAMP, nullable=False),
        sa.Column("finished_at", _TIMESTAMP, nullable=True),
        sa.Column("pins", sa.Text, nullable=False),
        sa.Column("snapshot", sa.Text, nullable=True),
        sa.Column("stats", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.CheckConstraint(
            "status IN ('running', 'delivered', 'error', 'cancelled')", name="ck_runs_status"
        ),
        sa.CheckConstraint("kind IN ('run', 'test')", name="ck_runs_kind"),
        sa.CheckConstraint("campaign_version >= 1", name="ck_runs_version_positive"),
        sa.CheckConstraint(
            "(status = 'running') = (finished_at IS NULL)",
            name="ck_runs_finished_when_not_running",
        ),
    )
    op.create_index("ix_runs_campaign_started_at", "runs", ["campaign", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_campaign_started_at", table_name="runs")
    op.drop_table("runs")
    op.drop_table("campaign_state")
