"""Measuring the classifier: per-topic precision/recall/F1, micro/macro F1 on labelled records, `--cv K` folds."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aggregator.classify.classifier import Classifier
from aggregator.classify.examples import Example, examples_from_records
from aggregator.classify.metrics import metrics
from aggregator.errors import ConfigError

if TYPE_CHECKING:
    from aggregator.classify.topics import TopicSet


def check_labels(records: Sequence[Mapping[str, Any]], topics: TopicSet) -> list[str]:
    """Topic ids the records use, in topics.toml order; an unknown id raises UnknownTopicError."""
    used: set[str] = set()
    for number, record in enumerate(records, start=1):
        for label in record.get("labels") or ():
            try:
                used.add(topics.check_label(label))
            except ConfigError as exc:
                raise type(exc)(f"{exc} (record #{number})") from None
    return [t for t in topics.ids if t in used]


def label_problems(records: Sequence[Mapping[str, Any]], topics: TopicSet) -> list[str]:
    """What is wrong with a labelled file for measuring, in words; [] for a file that measures every topic.

    An unknown topic id, a topic no record is labelled with (it is not measured), and a topic every record is
    labelled with (no negative example: its precision says nothing).
    """
    if not records:
        return ["the file holds no records: there is nothing to measure"]
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for number, record in enumerate(records, start=1):
        for label in set(record.get("labels") or ()):
            counts[label] = counts.get(label, 0) + 1
            first.setdefault(label, number)
    problems = [
        f"topic {label!r} (record #{first[label]}, {n} record(s) in all) is not in {topics.path}: its labels are "
        f"ignored (known: {', '.join(topics.ids) or 'none'})"
        for label, n in counts.items()
        if label not in topics.ids
    ]
    for topic in topics.ids:
        if topic not in counts:
            problems.append(f"no record is labelled {topic!r}: it is not measured (no positive example)")
        elif counts[topic] == len(records):
            problems.append(f"every record is labelled {topic!r}: no negative example, so its precision says nothing")
    return problems


def known_labels(records: Sequence[Mapping[str, Any]], topics: TopicSet) -> list[dict[str, Any]]:
    """The records with labels that topics.toml does not define taken out (`label_problems` names them)."""
    return [{**r, "labels": [t for t in r.get("labels") or () if t in topics.ids]} for r in records]


def evaluate(classifier: Classifier, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Score `records` with a trained classifier (never trained on them) on the topics they label."""
    covered = check_labels(records, classifier.topics)
    results = classifier.predict(records)
    gold = {t: [t in (r.get("labels") or ()) for r in records] for t in covered}
    predicted = {t: [res[t].passed for res in results] for t in covered}
    return metrics(gold, predicted)


def folds(records: Sequence[Mapping[str, Any]], k: int, seed: int = 0) -> list[list[int]]:
    """K folds of record indices, each with a similar mix of label sets (deterministic for a seed)."""
    if not 2 <= k <= len(records):
        raise ValueError(f"--cv needs 2 <= K <= {len(records)} (number of records), got {k}")
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    order.sort(key=lambda i: sorted(records[i].get("labels") or ()))
    out: list[list[int]] = [[] for _ in range(k)]
    for position, index in enumerate(order):
        out[position % k].append(index)
    return [sorted(f) for f in out]


def cross_validate(
    records: Sequence[Mapping[str, Any]], topics: TopicSet, seed_examples: Iterable[Example], k: int = 5
) -> dict[str, Any]:
    """Simulate feedback: per fold, train on the seed plus the other folds as labels, score the held-out fold."""
    covered = check_labels(records, topics)
    seed = list(seed_examples)
    predicted: dict[int, dict[str, bool]] = {}
    for held_out in folds(records, k):
        held = set(held_out)
        rest = [r for i, r in enumerate(records) if i not in held]
        feedback = examples_from_records(rest, covered, feedback=True)
        classifier = Classifier.train(seed + feedback, topics)
        for index, result in zip(held_out, classifier.predict([records[i] for i in held_out]), strict=True):
            predicted[index] = {t: result[t].passed for t in covered}
    gold = {t: [t in (r.get("labels") or ()) for r in records] for t in covered}
    return metrics(gold, {t: [predicted[i][t] for i in range(len(records))] for t in covered})
