"""Captured pages and feed bodies in WARC files (issue #15): the `captures` index of their records.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aggregator.models import base as models_base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "captures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("captured_at", models_base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("content_type", sa.Text(), nullable=True),
        sa.Column("warc_file", sa.String(length=255), nullable=True),
        sa.Column("offset", sa.BigInteger(), nullable=True),
        sa.Column("length", sa.BigInteger(), nullable=True),
        sa.Column("digest", sa.String(length=80), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], name=op.f("fk_captures_source_id_sources")),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_captures_item_id_items"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_captures")),
    )
    op.create_index("ix_captures_item_id", "captures", ["item_id"], unique=False)
    op.create_index("ix_captures_source_captured", "captures", ["source_id", "captured_at"], unique=False)
    op.create_index("ix_captures_warc_file", "captures", ["warc_file"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_captures_warc_file", table_name="captures")
    op.drop_index("ix_captures_source_captured", table_name="captures")
    op.drop_index("ix_captures_item_id", table_name="captures")
    op.drop_table("captures")
