"""Put sources, items and topic tags straight into a database for digest and story tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from aggregator.classify.topics import TopicSet, load_topics
from aggregator.models import Item, ItemTopic, Source

REPO = Path(__file__).resolve().parents[1]


def topics() -> TopicSet:
    return load_topics(REPO / "config")


def add_source(session: Session, source_id: str, *, name: str = "", tier: str = "news", language: str = "en") -> str:
    if session.get(Source, source_id) is None:
        session.add(
            Source(
                id=source_id, name=name or source_id.title(), kind="feed", url=f"https://{source_id}.example/feed",
                language=language, tier=tier,
            )
        )  # fmt: skip
        session.flush()
    return source_id


def add_item(
    session: Session,
    source_id: str,
    title: str,
    text: str,
    *,
    seen: datetime,
    published: datetime | None = None,
    language: str = "en",
    url: str | None = None,
    tags: dict[str, float] | None = None,
) -> int:
    """One stored item; `tags` gives passed topic scores (the classifier's verdict, written directly)."""
    key = hashlib.sha1(f"{source_id}|{title}|{seen.isoformat()}".encode()).hexdigest()[:16]
    item = Item(
        source_id=source_id, guid=key, url=url or f"https://{source_id}.example/{key}", url_key=f"{source_id}/{key}",
        content_hash=key, title=title, summary="", summary_text=text[:300], text=text, language=language,
        published_at=published, first_seen_at=seen, fetched_at=seen, raw={},
    )  # fmt: skip
    session.add(item)
    session.flush()
    for topic, score in (tags or {}).items():
        session.add(
            ItemTopic(
                item_id=item.id, topic=topic, score=score, passed=True, method="rules",
                explanation={"hits": [{"term": f"{topic}-term", "field": "text", "weight": 1.0}]},
                classified_at=seen, classifier="test",
            )
        )  # fmt: skip
    session.flush()
    return item.id


def utc(*args: Any) -> datetime:
    return datetime(*args, tzinfo=UTC)
