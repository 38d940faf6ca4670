"""One item as the item page and /api/items show it: topics with their reasons, its story, its provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.classify.topics import TopicSet
from aggregator.models import Item, ItemTopic, Sighting, Story
from aggregator.parse.sanitize import clean_html
from aggregator.store.captures import Versions, item_versions
from aggregator.store.entities import ItemEntity, item_entities
from aggregator.store.sources import source_names
from aggregator.store.tags import item_labels, item_topics
from aggregator.stories.store import docs_of_items
from aggregator.stories.why import WhyGrouped, why_grouped
from aggregator.web.markup import safe_href

MAX_SIBLINGS = 200  # a story of a few hundred copies is possible (wire stories); the page lists the first ones


@dataclass(frozen=True)
class TopicVerdict:
    """The stored verdict on one topic (the reporter's label where there is one), its explanation, the label."""

    topic: str
    score: float  # the model's, even where a label decided
    passed: bool
    method: str  # "label" where the reporter's label decided (aggregator.classify.tagging.LABEL_METHOD)
    model_passed: bool | None  # the model's own verdict (None: a label on a topic the model has not scored yet)
    rule_score: float | None
    rule_threshold: float | None
    hits: list[dict[str, Any]]
    ignored: list[str]
    model_words: list[tuple[str, float]]
    threshold: float | None
    label: bool | None
    explanation: dict[str, Any]  # as stored, for the API


@dataclass(frozen=True)
class Sibling:
    item_id: int
    title: str
    url: str
    source_id: str
    source_name: str
    published_at: datetime | None
    first_seen_at: datetime


@dataclass(frozen=True)
class Seen:
    """One source that carried the item (a sighting), and when."""

    source_id: str
    source_name: str
    url: str
    seen_at: datetime


@dataclass
class ItemView:
    item: Item
    source_name: str
    summary_html: str  # sanitised again here: whatever the stored copy holds, the page gets nh3's output
    verdicts: list[TopicVerdict]
    labels: dict[str, bool]
    story: Story | None
    first_source_name: str | None  # the outlet that reported the story first
    siblings: list[Sibling] = field(default_factory=list)
    sightings: list[Seen] = field(default_factory=list)
    entities: list[ItemEntity] = field(default_factory=list)  # the entities of entities.toml it names
    captures: Versions | None = None  # the page versions and feed body captured (aggregator.store.captures)
    why: WhyGrouped | None = None  # what the item shares with the other items of its story (listed siblings)


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _model_passed(why: dict[str, Any], passed: bool) -> bool | None:
    """The model's verdict: kept in the explanation where a label decided, else the stored one."""
    if "model_passed" not in why:
        return passed
    return why["model_passed"] if isinstance(why["model_passed"], bool) else None


def verdict(row: ItemTopic, label: bool | None) -> TopicVerdict:
    why = row.explanation if isinstance(row.explanation, dict) else {}
    pairs = [f for f in why.get("features") or [] if isinstance(f, list | tuple) and len(f) == 2]
    features = [(str(word), float(weight)) for word, weight in pairs]
    return TopicVerdict(
        topic=row.topic,
        score=float(row.score),
        passed=bool(row.passed),
        method=row.method,
        model_passed=_model_passed(why, bool(row.passed)),
        rule_score=_float(why.get("rule_score")),
        rule_threshold=_float(why.get("rule_threshold")),
        hits=[h for h in why.get("hits") or [] if isinstance(h, dict)],
        ignored=[str(i) for i in why.get("ignored") or []],
        model_words=features,
        threshold=_float(why.get("threshold")),
        label=label,
        explanation=why,
    )


def load_item(session: Session, item_id: int, topics: TopicSet) -> ItemView | None:
    """Everything the item page shows, or None when there is no such item."""
    item = session.get(Item, item_id)
    if item is None:
        return None
    names = source_names(session)
    labels = item_labels(session, item_id)
    order = {topic_id: n for n, topic_id in enumerate(topics.ids)}
    rows = item_topics(session, item_id)
    # Topics the item has first, strongest first; then the rest in topics.toml order.
    rows = sorted(rows, key=lambda r: (not r.passed, -r.score if r.passed else order.get(r.topic, 99), r.topic))
    story = session.get(Story, item.story_id) if item.story_id is not None else None
    siblings: list[Sibling] = []
    if story is not None:
        found = session.execute(
            select(Item.id, Item.title, Item.url, Item.source_id, Item.published_at, Item.first_seen_at)
            .where(Item.story_id == story.id, Item.id != item.id)
            .order_by(Item.first_seen_at, Item.id)
            .limit(MAX_SIBLINGS)
        )
        siblings = [Sibling(r[0], r[1], r[2], r[3], names.get(r[3], r[3]), r[4], r[5]) for r in found]
    first = story.first_source_id if story is not None else None
    why = None
    if siblings:
        docs = {d.item_id: d for d in docs_of_items(session, [item.id, *(s.item_id for s in siblings)])}
        why = why_grouped(docs[item.id], [d for i, d in docs.items() if i != item.id])
    seen = session.scalars(select(Sighting).where(Sighting.item_id == item_id).order_by(Sighting.seen_at, Sighting.id))
    return ItemView(
        item=item,
        source_name=names.get(item.source_id, item.source_id),
        summary_html=clean_html(item.summary, base_url=safe_href(item.url) or None) if item.summary else "",
        verdicts=[verdict(r, labels.get(r.topic)) for r in rows],
        labels=labels,
        story=story,
        first_source_name=names.get(first, first) if first else None,
        siblings=siblings,
        sightings=[Seen(s.source_id, names.get(s.source_id, s.source_id), s.url, s.seen_at) for s in seen],
        entities=item_entities(session, item_id),
        captures=item_versions(session, item),
        why=why,
    )
