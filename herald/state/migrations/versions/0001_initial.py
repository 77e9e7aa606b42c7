"""Definitions, their versions, and segment insights history.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

# Times are written out here rather than imported from herald.state._schema: a migration
# must keep doing what it did when it was written, whatever the current code looks like.
_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "definitions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_definitions"),
        sa.UniqueConstraint("kind", "name", name="uq_definitions_kind_name"),
    )
    op.create_table(
        "definition_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("definition_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("definition_json", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("activated_at", _TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_definition_versions"),
        sa.ForeignKeyConstraint(
            ["definition_id"],
            ["definitions.id"],
            name="fk_definition_versions_definition_id_definitions",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "definition_id", "version", name="uq_definition_versions_definition_id_version"
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'retired')", name="ck_definition_versions_status"
        ),
        sa.CheckConstraint("version >= 1", name="ck_definition_versions_version_positive"),
    )
    for status in ("draft", "active"):
        op.create_index(
            f"uq_definition_versions_one_{status}",
            "definition_versions",
            ["definition_id"],
            unique=True,
            sqlite_where=sa.text(f"status = '{status}'"),
            postgresql_where=sa.text(f"status = '{status}'"),
        )
    op.create_table(
        "insights",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("definition_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("computed_at", _TIMESTAMP, nullable=False),
        sa.Column("as_of", _TIMESTAMP, nullable=True),
        sa.Column("metrics_json", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_insights"),
        sa.ForeignKeyConstraint(
            ["definition_id", "version"],
            ["definition_versions.definition_id", "definition_versions.version"],
            name="fk_insights_definition_id_version_definition_versions",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_insights_definition_id_computed_at", "insights", ["definition_id", "computed_at"]
    )


def downgrade() -> None:
    op.drop_table("insights")
    op.drop_table("definition_versions")
    op.drop_table("definitions")
