"""Topic tags per item (`item_topics`) and the reporter's corrections (`labels`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aggregator.models.base import Base


class ItemTopic(Base):
    """The classifier's verdict on one item for one topic, with the reason a reporter can check."""

    __tablename__ = "item_topics"
    # Search counts and gathers a topic filter's items from this index alone; digest and stats read by its lead.
    __table_args__ = (Index("ix_item_topics_search", "topic", "passed", "score", "item_id"),)

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    topic: Mapped[str] = mapped_column(String(64), primary_key=True)
    score: Mapped[float]
    passed: Mapped[bool]
    method: Mapped[str] = mapped_column(String(16))
    explanation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    classified_at: Mapped[datetime]
    classifier: Mapped[str] = mapped_column(String(64))


class Label(Base):
    """A person's answer to "is this item about topic T?"; the next training run learns from it."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("item_id", "topic", name="uq_labels_item_topic"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    topic: Mapped[str] = mapped_column(String(64))
    value: Mapped[bool]
    created_at: Mapped[datetime]
    origin: Mapped[str] = mapped_column(String(16), default="cli")
