"""What an alert says about each item: headline, link, outlet, time, topics and entities, read in one go."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.models import Item
from aggregator.store.entities import item_entity_ids
from aggregator.store.sources import source_names
from aggregator.store.tags import passed_topics


@dataclass(frozen=True)
class Alert:
    """One matched item as the channels show it (untrusted text: each channel escapes it its own way)."""

    item_id: int
    url: str
    title: str
    source_id: str
    outlet: str
    published_at: datetime | None
    first_seen_at: datetime
    topics: dict[str, float]
    entities: list[str]

    @property
    def when(self) -> datetime:
        return self.published_at or self.first_seen_at


def load_alerts(session: Session, item_ids: Sequence[int]) -> list[Alert]:
    """The alerts for `item_ids`, in that order (items deleted meanwhile are left out)."""
    if not item_ids:
        return []
    columns = (Item.id, Item.url, Item.title, Item.source_id, Item.published_at, Item.first_seen_at)
    rows = {row[0]: row for row in session.execute(select(*columns).where(Item.id.in_(item_ids)))}
    names = source_names(session)
    tags = passed_topics(session, list(item_ids))
    entities = item_entity_ids(session, item_ids)
    return [
        Alert(
            item_id=item_id,
            url=row[1],
            title=row[2] or "",
            source_id=row[3],
            outlet=names.get(row[3], row[3]),
            published_at=row[4],
            first_seen_at=row[5],
            topics=tags.get(item_id, {}),
            entities=entities.get(item_id, []),
        )  # fmt: skip
        for item_id in item_ids
        if (row := rows.get(item_id)) is not None
    ]
