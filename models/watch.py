"""Watches' state (`watch_cursors`: how far each watch has looked) and their delivery log (`watch_deliveries`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aggregator.models.base import Base


class WatchCursor(Base):
    """The last item id a watch has matched against: items after it are the watch's new items."""

    __tablename__ = "watch_cursors"

    watch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_item_id: Mapped[int]
    matched_at: Mapped[datetime]
    error: Mapped[str | None] = mapped_column(Text)  # why the query could not run (an unknown source...)


class WatchDelivery(Base):
    """One item to deliver (or delivered) by one watch over one channel; the unique key makes it happen once."""

    __tablename__ = "watch_deliveries"
    __table_args__ = (
        UniqueConstraint("watch_id", "item_id", "channel", name="uq_watch_deliveries_watch_item_channel"),
        Index("ix_watch_deliveries_state_next", "state", "next_attempt_at"),
        Index("ix_watch_deliveries_watch_channel", "watch_id", "channel", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    watch_id: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))  # pending | sent
    attempts: Mapped[int] = mapped_column(default=0)
    matched_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    # The notify URLs that already took this alert, as keys (notify.target_key: a hash, the URLs hold tokens),
    # space-separated: a retry goes to the others only.
    delivered_to: Mapped[str | None] = mapped_column(Text)
