"""Stories (items grouped by event) and the digest archive.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 22:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from aggregator.models import base as models_base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("first_seen_at", models_base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", models_base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("first_item_id", sa.Integer(), nullable=True),
        sa.Column("first_source_id", sa.String(length=64), nullable=True),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("source_count", sa.Integer(), nullable=False),
        sa.Column("updated_at", models_base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stories")),
    )
    op.create_index("ix_stories_last_seen_at", "stories", ["last_seen_at"], unique=False)
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("local_date", sa.String(length=10), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("period_start", models_base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period_end", models_base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("built_at", models_base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("story_count", sa.Integer(), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column(
            "content",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("sent_at", models_base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_to", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests")),
        sa.UniqueConstraint("local_date", name="uq_digests_local_date"),
    )
    op.create_index(op.f("ix_digests_period_start"), "digests", ["period_start"], unique=False)
    op.create_index(op.f("ix_digests_period_end"), "digests", ["period_end"], unique=False)
    # A plain ADD COLUMN, never a table rebuild: on SQLite the items table carries the full-text triggers,
    # and SQLite accepts a REFERENCES clause on an added column whose default is NULL.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE items ADD COLUMN story_id INTEGER REFERENCES stories (id) ON DELETE SET NULL")
    else:
        op.add_column("items", sa.Column("story_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f("fk_items_story_id_stories"), "items", "stories", ["story_id"], ["id"], ondelete="SET NULL"
        )
    op.create_index(op.f("ix_items_story_id"), "items", ["story_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_items_story_id"), table_name="items")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("fk_items_story_id_stories"), "items", type_="foreignkey")
    op.drop_column("items", "story_id")  # SQLite >= 3.35 drops a column in place
    op.drop_index(op.f("ix_digests_period_end"), table_name="digests")
    op.drop_index(op.f("ix_digests_period_start"), table_name="digests")
    op.drop_table("digests")
    op.drop_index("ix_stories_last_seen_at", table_name="stories")
    op.drop_table("stories")
