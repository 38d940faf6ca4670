"""Entity mentions per item (issue #14): the entities as last matched, their mentions, and which items were matched.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 22:30:00

Stored items are not matched here: the next crawl (or `aggregator entities --rematch`) matches every item whose
entity_scans row is missing or carries another fingerprint than entities.toml's.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from aggregator.models import base as models_base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entities",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("parent", sa.String(length=64), nullable=True),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),  # fmt: skip
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entities")),
    )
    op.create_table(
        "entity_mentions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("surface", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_entity_mentions_item_id_items"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entity_mentions")),
        sa.UniqueConstraint("item_id", "entity_id", "field", "surface", name="uq_entity_mentions_item_entity"),
    )
    op.create_index("ix_entity_mentions_entity_item", "entity_mentions", ["entity_id", "item_id"], unique=False)
    op.create_table(
        "entity_scans",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("matched_at", models_base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_entity_scans_item_id_items"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_entity_scans")),
    )
    op.create_index(op.f("ix_entity_scans_fingerprint"), "entity_scans", ["fingerprint"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_entity_scans_fingerprint"), table_name="entity_scans")
    op.drop_table("entity_scans")
    op.drop_index("ix_entity_mentions_entity_item", table_name="entity_mentions")
    op.drop_table("entity_mentions")
    op.drop_table("entities")
