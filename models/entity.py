"""Entities of entities.toml as last matched (`entities`), their mentions per item, and which items were matched."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aggregator.models.base import Base


class Entity(Base):
    """One entity as the file said when items were last matched: what search, pages and the digest name it by."""

    __tablename__ = "entities"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    parent: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"tags": [...], "aliases": [...]}
    fingerprint: Mapped[str] = mapped_column(String(32))


class EntityMention(Base):
    """An entity named in an item: in which field (title, summary, text), with which words, how often, first where."""

    __tablename__ = "entity_mentions"
    __table_args__ = (
        UniqueConstraint("item_id", "entity_id", "field", "surface", name="uq_entity_mentions_item_entity"),
        Index("ix_entity_mentions_entity_item", "entity_id", "item_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    entity_id: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(16))
    surface: Mapped[str] = mapped_column(String(200))
    count: Mapped[int] = mapped_column(default=1)
    start: Mapped[int] = mapped_column(default=0)  # character offset of the first occurrence in the field


class EntityScan(Base):
    """An item was matched against the entities whose fingerprint this is; another fingerprint means: match again."""

    __tablename__ = "entity_scans"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(32), index=True)
    matched_at: Mapped[datetime]
