"""Stories (items about one event, grouped across outlets) and the archive of built digests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aggregator.models.base import Base


class Story(Base):
    """One event or one text, however many outlets carried it; items point here through `items.story_id`."""

    __tablename__ = "stories"
    __table_args__ = (Index("ix_stories_last_seen_at", "last_seen_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # Who reported it first: the earliest item by publication time (first sighting when undated).
    # No foreign key: items already point at stories, and a cycle would leave table order undefined.
    first_item_id: Mapped[int | None]
    first_source_id: Mapped[str | None] = mapped_column(String(64))
    item_count: Mapped[int] = mapped_column(default=0)
    source_count: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]


class Digest(Base):
    """A digest as built: its period, the content every format is rendered from, and whether it was mailed."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("local_date", name="uq_digests_local_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    local_date: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD in the reporter's zone
    timezone: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[datetime] = mapped_column(index=True)
    period_end: Mapped[datetime] = mapped_column(index=True)
    built_at: Mapped[datetime]
    story_count: Mapped[int] = mapped_column(default=0)
    item_count: Mapped[int] = mapped_column(default=0)
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message_id: Mapped[str] = mapped_column(String(255))
    sent_at: Mapped[datetime | None]
    sent_to: Mapped[str | None] = mapped_column(Text)
