"""Watches and their delivery log (issue #14): how far each watch has matched, and every alert to send or sent.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aggregator.models import base as models_base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watch_cursors",
        sa.Column("watch_id", sa.String(length=64), nullable=False),
        sa.Column("last_item_id", sa.Integer(), nullable=False),
        sa.Column("matched_at", models_base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("watch_id", name=op.f("pk_watch_cursors")),
    )
    op.create_table(
        "watch_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watch_id", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("matched_at", models_base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", models_base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", models_base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_watch_deliveries_item_id_items"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_deliveries")),
        sa.UniqueConstraint("watch_id", "item_id", "channel", name="uq_watch_deliveries_watch_item_channel"),
    )
    op.create_index(op.f("ix_watch_deliveries_item_id"), "watch_deliveries", ["item_id"], unique=False)
    op.create_index("ix_watch_deliveries_state_next", "watch_deliveries", ["state", "next_attempt_at"], unique=False)
    op.create_index(
        "ix_watch_deliveries_watch_channel", "watch_deliveries", ["watch_id", "channel", "state"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_watch_deliveries_watch_channel", table_name="watch_deliveries")
    op.drop_index("ix_watch_deliveries_state_next", table_name="watch_deliveries")
    op.drop_index(op.f("ix_watch_deliveries_item_id"), table_name="watch_deliveries")
    op.drop_table("watch_deliveries")
    op.drop_table("watch_cursors")
