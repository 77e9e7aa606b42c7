"""Who did what (the audit trail), and the web app's users.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

# Written out here rather than imported from herald.state._schema: a migration must keep
# doing what it did when it was written, whatever the current code looks like.
_TIMESTAMP = sa.DateTime(timezone=True)

# New nullable columns only, added in place (see 0004 for why no table is copied).
_AUDIT = (
    ("definition_versions", "saved_by"),
    ("definition_versions", "activated_by"),
    ("runs", "started_by"),
    ("schedules", "scheduled_by"),
)


def upgrade() -> None:
    for table, column in _AUDIT:
        op.add_column(table, sa.Column(column, sa.String(200), nullable=True))
    op.create_table(
        "web_users",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_web_users"),
        sa.CheckConstraint("role IN ('viewer', 'editor')", name="ck_web_users_role"),
    )


def downgrade() -> None:
    op.drop_table("web_users")
    for table, column in reversed(_AUDIT):
        op.drop_column(table, column)
