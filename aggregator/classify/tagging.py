"""Tag stored items by topic: load (or train) the classifier, store every verdict, keep the reporter's labels."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from aggregator.classify.classifier import Classifier, ClassifierError, collector_paused
from aggregator.classify.examples import Example, seed_examples
from aggregator.classify.topics import TopicSet
from aggregator.config.settings import Settings
from aggregator.errors import AggregatorError
from aggregator.models import Item, ItemTopic, Label
from aggregator.store.rows import insert_rows

log = logging.getLogger(__name__)

BATCH = 256  # the classifier is fastest on batches (see bench/classify.py)
LABEL_METHOD = "label"  # item_topics.method of a tag the reporter's label decided
TAGS: Table = ItemTopic.__table__  # type: ignore[assignment]
TAG_COLUMNS = ("item_id", "topic", "score", "passed", "method", "explanation")  # each tag's own; the rest per batch


def classifier_dir(settings: Settings) -> Path:
    return settings.data_path / "classifier"


def classifier_name(clf: Classifier) -> str:
    """A short id stored with every tag: which classifier decided."""
    meta = clf.metadata
    return str(meta.get("created_at") or meta.get("method") or "rules")[:64]


def load_classifier(
    settings: Settings, topics: TopicSet, *, train_if_missing: bool = True, session: Session | None = None
) -> Classifier:
    """The saved classifier; trained from the seed examples (and stored labels) when there is none yet,
    or when topics.toml changed since it was trained. An unreadable or newer file is an error, not retrained
    silently."""
    path = classifier_dir(settings)
    try:
        clf = Classifier.load(path, topics)
    except ClassifierError:
        if (path / "classifier.json").exists() or not train_if_missing:
            raise
        log.info("no classifier in %s yet: training one from the seed examples", path)
        return train_classifier(settings, topics, session=session)
    if clf.metadata.get("topics_fingerprint") != topics.fingerprint and train_if_missing:
        log.warning("topics.toml changed since the classifier was trained: retraining")
        return train_classifier(settings, topics, session=session)
    return clf


def feedback_examples(session: Session, topics: TopicSet) -> tuple[list[Example], list[str]]:
    """The reporter's labels as training examples; labels for topics no longer in topics.toml are reported."""
    rows = session.execute(
        select(Label.topic, Label.value, Item.title, Item.summary_text, Item.text, Item.language).join(
            Item, Item.id == Label.item_id
        )
    ).all()
    examples, unknown = [], []
    for topic, value, title, summary, text, lang in rows:
        if topic not in topics.ids:
            unknown.append(topic)
            continue
        body = "\n".join(p for p in (summary, text) if p)
        examples.append(Example.label(title or "", body, topic, bool(value), lang))
    return examples, sorted(set(unknown))


def train_classifier(settings: Settings, topics: TopicSet, *, session: Session | None = None) -> Classifier:
    """Train on the shipped seed examples plus every stored label, and save the result."""
    examples = seed_examples()
    if session is not None:
        feedback, unknown = feedback_examples(session, topics)
        if unknown:
            log.warning("labels for unknown topics ignored: %s", ", ".join(unknown))
        examples += feedback
    clf = Classifier.train(examples, topics)
    clf.save(classifier_dir(settings))
    return clf


def _item_rows(session: Session, ids: Sequence[int]) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Item.id, Item.title, Item.summary_text, Item.text, Item.language).where(Item.id.in_(ids))
    ).all()
    return [
        {"id": r.id, "title": r.title, "summary_text": r.summary_text, "text": r.text, "language": r.language}
        for r in rows
    ]


def labelled(explanation: dict[str, Any], model_passed: bool | None, model_method: str, value: bool) -> dict[str, Any]:
    """A stored explanation that says the reporter decided, keeping the model's own verdict next to it."""
    return {**explanation, "label": value, "model_passed": model_passed, "model_method": model_method,
            "decided_by": "the reporter's label"}  # fmt: skip


def _labels_of(session: Session, ids: Sequence[int]) -> dict[tuple[int, str], bool]:
    rows = session.execute(select(Label.item_id, Label.topic, Label.value).where(Label.item_id.in_(ids)))
    return {(item_id, topic): bool(value) for item_id, topic, value in rows}


def tag_items(session: Session, clf: Classifier, ids: Sequence[int], *, now: datetime) -> int:
    """Classify the items `ids` and replace their stored tags. Returns how many items were tagged.

    Where the reporter labelled an item for a topic, the stored tag follows the label (method LABEL_METHOD), so
    every reader of item_topics (digest, search, stats, export, web) agrees with the reporter; the model's score
    and verdict stay in the row.
    """
    done = 0
    for start in range(0, len(ids), BATCH):
        with collector_paused():
            items = _item_rows(session, ids[start : start + BATCH])
            if not items:  # deleted since their ids were listed: no delete, no insert
                continue
            item_ids = [i["id"] for i in items]
            session.execute(delete(ItemTopic).where(ItemTopic.item_id.in_(item_ids)))
            _store_tags(session, clf, items, _labels_of(session, item_ids), now)
        done += len(items)
    return done


def tag_new_items(session: Session, clf: Classifier, items: Sequence[Mapping[str, Any]], *, now: datetime) -> int:
    """Tag items stored in this transaction, given as their stored rows (id, title, summary_text, text, language):
    the crawl's path, which has them at hand, and knows they have no tags or labels yet, so it reads nothing back.
    """
    for start in range(0, len(items), BATCH):
        with collector_paused():
            _store_tags(session, clf, items[start : start + BATCH], {}, now)
    return len(items)


def _store_tags(
    session: Session,
    clf: Classifier,
    items: Sequence[Mapping[str, Any]],
    labels: Mapping[tuple[int, str], bool],
    now: datetime,
) -> None:
    rows = []
    for item, verdicts in zip(items, clf.predict(items), strict=True):
        for topic, r in verdicts.items():
            passed, method, why = bool(r.passed), r.method, r.explanation.as_dict()
            label = labels.get((item["id"], topic))
            if label is not None:
                passed, method, why = label, LABEL_METHOD, labelled(why, passed, method, label)
            rows.append((item["id"], topic, float(r.score), passed, method, why))
    insert_rows(session, TAGS, TAG_COLUMNS, rows, {"classified_at": now, "classifier": classifier_name(clf)})


def untagged_ids(session: Session, *, everything: bool = False) -> Iterator[list[int]]:
    """Ids of items without tags (or of every item), in chunks, oldest first."""
    query = select(Item.id).order_by(Item.id)
    if not everything:
        query = query.where(~select(ItemTopic.item_id).where(ItemTopic.item_id == Item.id).exists())
    chunk: list[int] = []
    for item_id in session.scalars(query):
        chunk.append(item_id)
        if len(chunk) == 2000:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def add_label(
    session: Session, topics: TopicSet, item_id: int, topic: str, value: bool, *, now: datetime, origin: str = "cli"
) -> None:
    """Record "item is / is not about topic" (the latest answer wins); the item's stored tag follows it at once."""
    topics.check_label(topic)
    if session.get(Item, item_id) is None:
        raise AggregatorError(f"label: no item with id {item_id}")
    existing = session.scalars(select(Label).where(Label.item_id == item_id, Label.topic == topic)).first()
    if existing is None:
        session.add(Label(item_id=item_id, topic=topic, value=value, created_at=now, origin=origin))
    else:
        existing.value, existing.created_at, existing.origin = value, now, origin
    _apply_label(session, item_id, topic, value, now=now)


def _apply_label(session: Session, item_id: int, topic: str, value: bool, *, now: datetime) -> None:
    """Make the stored tag follow a new label at once, not only at the next `tag --all`."""
    row = session.get(ItemTopic, (item_id, topic))
    if row is not None:
        why = row.explanation if isinstance(row.explanation, dict) else {}
        if row.method == LABEL_METHOD:  # labelled before: the model's verdict is already kept in the explanation
            model_passed, model_method = why.get("model_passed"), str(why.get("model_method") or "")
        else:
            model_passed, model_method = row.passed, row.method
        row.passed, row.method = value, LABEL_METHOD
        row.explanation = labelled(why, model_passed, model_method, value)
        return
    # An untagged item is left to the tagger (it applies the label, and an item with any tag counts as tagged).
    # A tagged item without this topic (added to topics.toml since) gets a row: the model has not scored it.
    if session.scalar(select(ItemTopic.item_id).where(ItemTopic.item_id == item_id).limit(1)) is not None:
        why = labelled({}, None, "", value)
        session.add(ItemTopic(item_id=item_id, topic=topic, score=0.0, passed=value, method=LABEL_METHOD,
                              explanation=why, classified_at=now, classifier=LABEL_METHOD))  # fmt: skip


def labels_since_training(session: Session, clf: Classifier) -> int:
    """How many labels were given after the classifier was trained (the scheduler retrains when > 0)."""
    created = clf.metadata.get("created_at")
    query = select(Label.id)
    if created:
        query = query.where(Label.created_at > datetime.fromisoformat(str(created)))
    return len(session.scalars(query).all())
