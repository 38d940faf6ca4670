"""Watch deliveries: `delivered_to`, the notify URLs that already took an alert, so a retry skips them.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 07:00:00

A notify alert goes to every URL of the watch. When one URL failed, the alert stayed pending and its retry went to
every URL again: the phone that had it got it twice. Rows queued before this revision have no keys, so their next
try goes to every URL, as it did.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("watch_deliveries", sa.Column("delivered_to", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("watch_deliveries") as batch:  # SQLite drops a column by rebuilding the table
        batch.drop_column("delivered_to")
