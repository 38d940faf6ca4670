"""Tags: drop `ix_item_topics_topic_passed`; its columns lead `ix_item_topics_search` (0005), which serves its queries.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 20:00:00

Every stored tag paid for both indexes. The crawl writes three tags per item, and the redundant one cost SQLite a
sixth of the tags' insert time (0.029 against 0.024 CPU ms per item, measured on the same 15,000 rows).
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_item_topics_topic_passed", table_name="item_topics")


def downgrade() -> None:
    op.create_index("ix_item_topics_topic_passed", "item_topics", ["topic", "passed"], unique=False)
