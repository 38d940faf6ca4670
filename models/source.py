"""The `sources` table: one row per configured source, with its crawl state and health."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aggregator.models.base import Base


class Source(Base):
    """A source as last seen in config, plus what crawling it has taught us (failures are data here)."""

    __tablename__ = "sources"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    tier: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(default=True)
    in_config: Mapped[bool] = mapped_column(default=True)

    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(String(64))
    body_hash: Mapped[str | None] = mapped_column(String(64))
    feed_title: Mapped[str | None] = mapped_column(Text)

    last_fetch_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_new_item_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime | None] = mapped_column(index=True)
    last_status: Mapped[int | None]
    error_count: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    interval_seconds: Mapped[float | None]
    publish_rate: Mapped[float | None]  # new items per hour, smoothed over fetches
