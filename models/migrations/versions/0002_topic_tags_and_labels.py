"""Topic tags per item and the reporter's labels.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 20:40:30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from aggregator.models import base as models_base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "item_topics",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column(
            "explanation",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("classified_at", models_base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("classifier", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_item_topics_item_id_items"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("item_id", "topic", name=op.f("pk_item_topics")),
    )
    op.create_index("ix_item_topics_topic_passed", "item_topics", ["topic", "passed"], unique=False)
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Boolean(), nullable=False),
        sa.Column("created_at", models_base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_labels_item_id_items"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labels")),
        sa.UniqueConstraint("item_id", "topic", name="uq_labels_item_topic"),
    )
    op.create_index(op.f("ix_labels_item_id"), "labels", ["item_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_labels_item_id"), table_name="labels")
    op.drop_table("labels")
    op.drop_index("ix_item_topics_topic_passed", table_name="item_topics")
    op.drop_table("item_topics")
