"""Measuring the classifier: per-topic precision/recall/F1, micro/macro F1, `--cv K` folds and the learning curve."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aggregator.classify.classifier import Classifier
from aggregator.classify.examples import Example, examples_from_records
from aggregator.classify.metrics import metrics
from aggregator.classify.suggest import Suggestion, take_turns
from aggregator.errors import ConfigError

CURVE_STEP = 50  # simulated labels between two points of the learning curve
CURVE_LABELS = 150  # and the most it goes to by default: each point retrains once per fold and strategy

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


def learning_curve(
    records: Sequence[Mapping[str, Any]],
    topics: TopicSet,
    seed_examples: Iterable[Example],
    k: int = 5,
    *,
    step: int = CURVE_STEP,
    most: int = CURVE_LABELS,
    seed: int = 0,
) -> dict[str, Any]:
    """Macro-F1 after 0, `step`, 2 `step` ... `most` simulated labels, picked as `label --suggest` picks, and at random.

    Per fold, a simulated reporter answers (truthfully, from the record's labels) the item and topic questions
    that `take_turns` picks among the other folds' records, `step` at a time, and the classifier is retrained on
    the seed plus the answers so far; the held-out fold is scored at every point. The random curve answers as
    many questions drawn at random. Both curves start from the same seed-only classifier.
    """
    covered = check_labels(records, topics)
    base = list(seed_examples)
    points = list(range(0, most + 1, step))
    predicted: dict[str, dict[int, dict[int, dict[str, bool]]]] = {"uncertainty": {}, "random": {}}
    for fold, held_out in enumerate(folds(records, k, seed)):
        held = set(held_out)
        pool = [i for i in range(len(records)) if i not in held]
        questions = [(i, t) for i in pool for t in covered]
        first = Classifier.train(base, topics)
        start = _passed(first, records, held_out, covered)
        for strategy in predicted:
            rng = random.Random(seed * 1000 + fold)
            clf, asked = first, list[tuple[int, str]]()
            predicted[strategy].setdefault(0, {}).update(start)
            for point in points[1:]:
                done = set(asked)
                open_ = [q for q in questions if q not in done]
                if strategy == "random":
                    asked += rng.sample(open_, min(step, len(open_)))
                else:
                    asked += _uncertain(clf, records, open_, step)
                clf = Classifier.train(base + _answers(records, asked), topics)
                predicted[strategy].setdefault(point, {}).update(_passed(clf, records, held_out, covered))
    gold = {t: [t in (r.get("labels") or ()) for r in records] for t in covered}

    def macro(at: dict[int, dict[str, bool]]) -> float:
        return float(metrics(gold, {t: [at[i][t] for i in range(len(records))] for t in covered})["macro_f1"])

    rows = [{"labels": p, **{s: macro(predicted[s][p]) for s in predicted}} for p in points]
    return {"step": step, "folds": k, "points": rows}


def _passed(clf: Classifier, records: Sequence[Mapping[str, Any]], rows: Sequence[int],
            covered: Sequence[str]) -> dict[int, dict[str, bool]]:  # fmt: skip
    results = clf.predict([records[i] for i in rows])
    return {i: {t: r[t].passed for t in covered} for i, r in zip(rows, results, strict=True)}


def _uncertain(clf: Classifier, records: Sequence[Mapping[str, Any]], open_: Sequence[tuple[int, str]],
               n: int) -> list[tuple[int, str]]:  # fmt: skip
    """The `n` questions `label --suggest` would ask next among `open_`, with this classifier's scores."""
    rows = sorted({i for i, _ in open_})
    results = dict(zip(rows, clf.predict([records[i] for i in rows]), strict=True))
    candidates = [
        Suggestion(i, t, results[i][t].score, results[i][t].explanation.threshold, str(records[i].get("lang") or ""),
                   str(records[i].get("title") or ""))
        for i, t in open_
    ]  # fmt: skip
    return [(s.item_id, s.topic) for s in take_turns(candidates, n)]


def _answers(records: Sequence[Mapping[str, Any]], asked: Sequence[tuple[int, str]]) -> list[Example]:
    """The simulated reporter's labels: one yes/no per question, as `aggregator label` stores them."""
    return [
        Example.label(str(records[i].get("title") or ""), str(records[i].get("text") or ""), t,
                      t in (records[i].get("labels") or ()), records[i].get("lang"))
        for i, t in asked
    ]  # fmt: skip
