"""Distributed crawl workers seen (issue #16): the `workers` table of heartbeats.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aggregator.models import base as models_base

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("hostname", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(length=200), nullable=False),
        sa.Column("started_at", models_base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", models_base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("batches_done", sa.Integer(), nullable=False),
        sa.Column("batches_retried", sa.Integer(), nullable=False),
        sa.Column("current", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_index(op.f("ix_workers_last_seen_at"), "workers", ["last_seen_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_workers_last_seen_at"), table_name="workers")
    op.drop_table("workers")
