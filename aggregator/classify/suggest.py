"""Which items the reporter should label next: those the classifier is least sure of, across topics and languages."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
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
    candidates = [
        Suggestion(
            item_id, topic, float(score), float((explanation or {}).get("threshold", 0.5)), language or "", title
        )
        for item_id, topic, score, explanation, language, title in rows
        if (item_id, topic) not in done
    ]
    return take_turns(candidates, n)


def take_turns(candidates: Iterable[Suggestion], n: int) -> list[Suggestion]:
    """The `n` least sure of `candidates`, each topic and language bucket taking its turn, an item asked once.

    The one picking step of `label --suggest`, the web list and the feedback simulation of `evaluate --cv`.
    """
    buckets: dict[tuple[str, str], list[Suggestion]] = defaultdict(list)
    for suggestion in candidates:
        buckets[(suggestion.topic, suggestion.language)].append(suggestion)
    queues = [deque(sorted(b, key=lambda s: (s.margin, -s.item_id))) for _, b in sorted(buckets.items())]
    picked: list[Suggestion] = []
    asked: set[int] = set()
    while len(picked) < n and any(queues):
        for queue in queues:
            while queue and queue[0].item_id in asked:
                queue.popleft()
            if queue and len(picked) < n:
                suggestion = queue.popleft()
                picked.append(suggestion)
                asked.add(suggestion.item_id)
    return sorted(picked, key=lambda s: s.margin)
