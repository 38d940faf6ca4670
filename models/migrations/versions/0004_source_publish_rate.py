"""Each source's publishing rate, for adaptive polling.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 23:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sources", sa.Column("publish_rate", sa.Double(), nullable=True))


def downgrade() -> None:
    op.drop_column("sources", "publish_rate")
