"""Which items the reporter should label next: those the classifier is least sure of, across topics and languages."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.classify.tagging import LABEL_METHOD
from aggregator.models import Item, ItemTopic, Label

# How many recent tags are weighed: the newest items are the ones a label can still correct in the digest.
CANDIDATES = 20_000


@dataclass(frozen=True)
class Suggestion:
    """One item to ask about: its topic, the classifier's score and the threshold it was judged against."""

    item_id: int
    topic: str
    score: float
    threshold: float
    language: str
    title: str

    @property
    def margin(self) -> float:
        """How far from the decision the classifier was: 0 is a coin toss."""
        return abs(self.score - self.threshold)


def suggest_labels(session: Session, topic_ids: list[str], n: int) -> list[Suggestion]:
    """The `n` items whose labels would teach the classifier most (uncertainty sampling).

    For each topic and language, the recent tags closest to their threshold come first; the buckets take turns,
    so one topic or language cannot fill the list, and an item is asked about once. Items the reporter has
    labelled for that topic are left out.
    """
    if n < 1 or not topic_ids:
        return []
    done = {(row[0], row[1]) for row in session.execute(select(Label.item_id, Label.topic))}
    rows = session.execute(
        select(ItemTopic.item_id, ItemTopic.topic, ItemTopic.score, ItemTopic.explanation, Item.language, Item.title)
        .join(Item, Item.id == ItemTopic.item_id)
        .where(ItemTopic.topic.in_(topic_ids), ItemTopic.method != LABEL_METHOD)
        .order_by(Item.first_seen_at.desc())
        .limit(CANDIDATES)
    )
    buckets: dict[tuple[str, str], list[Suggestion]] = defaultdict(list)
    for item_id, topic, score, explanation, language, title in rows:
        if (item_id, topic) in done:
            continue
        threshold = float((explanation or {}).get("threshold", 0.5))
        buckets[(topic, language or "")].append(
            Suggestion(item_id, topic, float(score), threshold, language or "", title)
        )
    queues = [sorted(b, key=lambda s: (s.margin, -s.item_id)) for _, b in sorted(buckets.items())]
    picked: list[Suggestion] = []
    asked: set[int] = set()
    while len(picked) < n and any(queues):
        for queue in queues:
            while queue and queue[0].item_id in asked:
                queue.pop(0)
            if queue and len(picked) < n:
                suggestion = queue.pop(0)
                picked.append(suggestion)
                asked.add(suggestion.item_id)
    return sorted(picked, key=lambda s: s.margin)
