"""List ids, list deliveries and their batches: the checkpoints of a Klaviyo list sync.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

# Written out here rather than imported from herald.state._schema: a migration must keep
# doing what it did when it was written, whatever the current code looks like.
_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A list is looked up by name once, then remembered (list creation has a daily cap).
    op.create_table(
        "list_ids",
        sa.Column("destination", sa.String(200), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("list_id", sa.String(100), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("destination", "name", name="pk_list_ids"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("destination", sa.String(200), nullable=False),
        sa.Column("sub_audience", sa.String(200), nullable=False),
        sa.Column("group_name", sa.String(200), nullable=False),
        sa.Column("list_name", sa.String(500), nullable=False),
        sa.Column("list_id", sa.String(100), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("counts", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_deliveries_run_id_runs", ondelete="CASCADE"
        ),
        sa.UniqueConstraint(
            "run_id",
            "destination",
            "sub_audience",
            "group_name",
            name="uq_deliveries_run_id_destination_sub_audience_group_name",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'planned', 'running', 'done', 'failed')",
            name="ck_deliveries_status",
        ),
    )
    op.create_table(
        "batches",
        sa.Column("delivery_id", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("first_row", sa.Integer, nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("job_id", sa.String(100), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("sent_at", _TIMESTAMP, nullable=True),
        sa.Column("confirmed_at", _TIMESTAMP, nullable=True),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("delivery_id", "seq", name="pk_batches"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name="fk_batches_delivery_id_deliveries",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("kind IN ('add', 'update', 'remove')", name="ck_batches_kind"),
        sa.CheckConstraint(
            "status IN ('planned', 'sent', 'confirmed', 'failed', 'split')",
            name="ck_batches_status",
        ),
        sa.CheckConstraint("row_count >= 1", name="ck_batches_rows_positive"),
    )


def downgrade() -> None:
    op.drop_table("batches")
    op.drop_table("deliveries")
    op.drop_table("list_ids")
