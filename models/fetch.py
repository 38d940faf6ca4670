"""The `fetches` table: one row per request made for a source (the per-fetch log)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aggregator.models.base import Base


class Fetch(Base):
    """What one fetch of a source did: status, bytes, time, counts and the error if any."""

    __tablename__ = "fetches"
    __table_args__ = (Index("ix_fetches_source_started", "source_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    crawl_id: Mapped[str] = mapped_column(String(40), index=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"))
    url: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None]
    bytes: Mapped[int] = mapped_column(default=0)
    duration_ms: Mapped[int] = mapped_column(default=0)
    entries: Mapped[int] = mapped_column(default=0)
    new: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
