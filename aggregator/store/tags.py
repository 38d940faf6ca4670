"""Queries on `item_topics` (the classifier's tags) and `labels` (the reporter's answers), one per question asked."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.models import ItemTopic, Label


def item_topics(session: Session, item_id: int) -> list[ItemTopic]:
    """Every stored verdict on one item, tags it has and tags it lacks, by topic id."""
    return list(session.scalars(select(ItemTopic).where(ItemTopic.item_id == item_id).order_by(ItemTopic.topic)))


def passed_topics(session: Session, item_ids: Sequence[int]) -> dict[int, dict[str, float]]:
    """Item id to the topics it has, by topic id, with scores rounded to 4 places; untagged items are absent."""
    out: dict[int, dict[str, float]] = {}
    rows = session.execute(
        select(ItemTopic.item_id, ItemTopic.topic, ItemTopic.score)
        .where(ItemTopic.item_id.in_(item_ids), ItemTopic.passed.is_(True))
        .order_by(ItemTopic.item_id, ItemTopic.topic)
    )
    for item_id, topic, score in rows:
        out.setdefault(item_id, {})[topic] = round(float(score), 4)
    return out


def item_labels(session: Session, item_id: int) -> dict[str, bool]:
    """The reporter's answers for one item: topic id to yes (True) or no (False)."""
    return {lb.topic: lb.value for lb in session.scalars(select(Label).where(Label.item_id == item_id))}
