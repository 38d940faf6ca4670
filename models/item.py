"""The `items` table (each article stored once) and `sightings` (every source that carried it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aggregator.models.base import Base


class Item(Base):
    """One article, deduplicated across guid, canonical URL and content hash."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"), index=True)
    guid: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    canonical_url: Mapped[str | None] = mapped_column(Text)
    url_key: Mapped[str | None] = mapped_column(String(768), unique=True)
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    summary_text: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    authors: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str | None] = mapped_column(String(8))
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    first_seen_at: Mapped[datetime] = mapped_column(index=True)
    fetched_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]
    fulltext_state: Mapped[str] = mapped_column(String(16), default="none")
    fulltext_attempts: Mapped[int] = mapped_column(default=0)
    fulltext_error: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"), index=True)

    sightings: Mapped[list[Sighting]] = relationship(back_populates="item", cascade="all, delete-orphan")


class Sighting(Base):
    """A (source, guid) pair that led to an item: the guid dedupe key and the item's provenance."""

    __tablename__ = "sightings"
    __table_args__ = (
        UniqueConstraint("source_id", "guid", name="uq_sightings_source_guid"),
        Index("ix_sightings_item_id", "item_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"))
    guid: Mapped[str] = mapped_column(String(768))
    url: Mapped[str] = mapped_column(Text)
    seen_at: Mapped[datetime]

    item: Mapped[Item] = relationship(back_populates="sightings")
